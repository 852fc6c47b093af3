//! Background jobs (zzz_jobs, Oban-like): one module per worker, and the registry a
//! `zzz_jobs::Runner` runs them with. `zzz gen job` adds workers at the markers.

use zzz_jobs::Registry;

// zzz:job-mods

/// Every worker of the app.
pub fn registry() -> Registry {
    Registry::new()
        // zzz:job-registry
}
