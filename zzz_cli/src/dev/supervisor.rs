//! Running the built app: started with the listening socket inherited
//! (`ZZZ_LISTEN_FD`) and live reload on (`ZZZ_LIVE_RELOAD=1`), stopped with
//! SIGTERM so zzz's server drains it, killed if it does not exit in time.

use std::os::fd::RawFd;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long a stopped app may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running app process.
pub struct App {
    child: Child,
    pid: u32,
}

/// Starts `exe` with the listening socket `listener` (a descriptor of this
/// process) handed over. The app also gets `PORT`, so its config agrees with the
/// socket it is given.
pub fn spawn(exe: &Path, args: &[String], listener: RawFd, port: u16) -> Result<App, String> {
    let mut command = Command::new(exe);
    command
        .args(args)
        .env(zzz::server::LISTEN_FD_VAR, listener.to_string())
        .env(zzz::live_reload::ENV_VAR, "1")
        .env("PORT", port.to_string())
        .kill_on_drop(true);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (fcntl, prctl) on its own descriptor table.
    unsafe {
        command.pre_exec(move || {
            // The socket was opened close-on-exec; the app must inherit it.
            let flags = libc::fcntl(listener, libc::F_GETFD);
            if flags < 0 || libc::fcntl(listener, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // If `zzz server` dies without stopping the app, the app goes too.
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = child.id().unwrap_or(0);
    Ok(App { child, pid })
}

impl App {
    /// The app's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Completes when the app exits on its own.
    pub async fn exited(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Asks the app to shut down gracefully (SIGTERM) and returns at once; a
    /// background task reaps it, killing it after 10 s. The socket stays open in
    /// `zzz server`, so connections arriving meanwhile wait for the next app.
    pub fn stop(self) {
        tokio::spawn(self.stop_and_wait());
    }

    /// Like [`App::stop`], but waits until the app has exited.
    pub async fn stop_and_wait(mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // Never 0 or negative: kill(2) would signal a whole process group.
        if let Ok(pid) = libc::pid_t::try_from(self.pid)
            && pid > 0
        {
            // SAFETY: kill(2) with a pid this process started and has not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        if tokio::time::timeout(STOP_GRACE, self.child.wait()).await.is_err() {
            eprintln!("zzz: the app (pid {}) did not exit within {STOP_GRACE:?} of SIGTERM; killing it", self.pid);
            let _ = self.child.kill().await;
        }
    }
}
