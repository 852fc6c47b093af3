//! The templates under `templates/` (embedded at build time) and their small language:
//!
//! - `{{zzz:KEY}}` is replaced by the value of `KEY`;
//! - `{{zzz:if FLAG}}` … `{{zzz:else}}` … `{{zzz:end}}` keeps one branch (`!FLAG` negates;
//!   they nest). A directive alone on its line takes the whole line with it;
//! - a first line `{{zzz:only FLAG}}` makes the whole file conditional.
//!
//! Everything else (askama's `{{ … }}` and `{% … %}`) passes through untouched.

use std::collections::BTreeMap;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// The values and flags a template is rendered with.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
    flags: BTreeMap<String, bool>,
}

impl Vars {
    /// Sets a value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_owned(), value.into());
        self
    }

    /// Sets a flag.
    pub fn flag(&mut self, key: &str, on: bool) -> &mut Self {
        self.flags.insert(key.to_owned(), on);
        self
    }

    fn test(&self, cond: &str) -> Result<bool, String> {
        let (negate, name) = match cond.trim().strip_prefix('!') {
            Some(name) => (true, name.trim()),
            None => (false, cond.trim()),
        };
        let value = *self.flags.get(name).ok_or_else(|| format!("unknown flag `{name}`"))?;
        Ok(value != negate)
    }
}

/// The embedded template files under `dir` (e.g. `new`), as (path below `dir`, contents).
pub fn files_under(dir: &str) -> Vec<(&'static str, &'static str)> {
    let prefix = format!("{dir}/");
    embedded::FILES.iter().filter_map(|(path, text)| path.strip_prefix(prefix.as_str()).map(|rest| (rest, *text))).collect()
}

/// One embedded template by its path under `templates/`.
///
/// # Panics
/// If no such file was embedded (a mistake in the generator, caught by its tests).
pub fn template(path: &str) -> &'static str {
    embedded::FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no template {path} is embedded (zzz_cli/build.rs embeds templates/)"))
}

/// Where a template file lands in the output: `gitignore` becomes `.gitignore`, and a
/// `.tmpl` suffix (kept on files that would mean something where they sit, such as a
/// `Cargo.toml` inside this workspace) is dropped.
pub fn output_path(path: &str) -> String {
    let path = path.strip_suffix(".tmpl").unwrap_or(path);
    match path.rsplit_once('/') {
        Some((dir, "gitignore")) => format!("{dir}/.gitignore"),
        None if path == "gitignore" => ".gitignore".to_owned(),
        _ => path.to_owned(),
    }
}

/// Renders a template; `None` when its `{{zzz:only …}}` condition is false.
///
/// # Errors
/// An unknown key or flag, or unbalanced `if`/`end`, naming the template.
pub fn render(name: &str, text: &str, vars: &Vars) -> Result<Option<String>, String> {
    let fail = |m: String| format!("template {name}: {m}");
    let mut text = text;
    if let Some(rest) = text.strip_prefix("{{zzz:only ") {
        let (cond, after) = rest.split_once("}}").ok_or_else(|| fail("unclosed `{{zzz:only`".into()))?;
        if !vars.test(cond).map_err(fail)? {
            return Ok(None);
        }
        text = after.strip_prefix('\n').unwrap_or(after);
    }
    let mut out = String::with_capacity(text.len());
    // One entry per open `if`: (this branch is kept, an `else` was seen, the parent is kept).
    let mut stack: Vec<(bool, bool, bool)> = Vec::new();
    let mut rest = text;
    // Only whitespace since the last newline (of the template source)?
    let mut clean = true;
    while let Some(start) = rest.find("{{zzz:") {
        let keep = stack.last().is_none_or(|(k, _, _)| *k);
        let before = &rest[..start];
        let after_open = &rest[start + 6..];
        let end = after_open.find("}}").ok_or_else(|| fail("unclosed `{{zzz:`".into()))?;
        let directive = after_open[..end].trim();
        let mut after = &after_open[end + 2..];
        let is_block = directive.starts_with("if ") || directive == "else" || directive == "end";
        // A block directive alone on its line takes the line (indentation and newline) with it.
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let clean_here = if before.contains('\n') { before[line_start..].trim().is_empty() } else { clean && before.trim().is_empty() };
        let alone = is_block && clean_here && after.split('\n').next().is_some_and(|l| l.trim().is_empty());
        clean = alone;
        let kept_before = if alone { &before[..line_start] } else { before };
        if keep {
            out.push_str(kept_before);
        }
        if alone {
            after = after.split_once('\n').map_or("", |(_, rest)| rest);
        }
        match directive {
            d if d.starts_with("if ") => {
                let on = vars.test(&d[3..]).map_err(fail)?;
                stack.push((keep && on, false, keep));
            }
            "else" => {
                let top = stack.last_mut().ok_or_else(|| fail("`else` without `if`".into()))?;
                if top.1 {
                    return Err(fail("two `else` in one `if`".into()));
                }
                *top = (top.2 && !top.0, true, top.2);
            }
            "end" => {
                stack.pop().ok_or_else(|| fail("`end` without `if`".into()))?;
            }
            key => {
                let value = vars.values.get(key).ok_or_else(|| fail(format!("unknown key `{key}`")))?;
                if keep {
                    out.push_str(value);
                }
            }
        }
        rest = after;
    }
    if !stack.is_empty() {
        return Err(fail("`if` without `end`".into()));
    }
    if stack.last().is_none_or(|(k, _, _)| *k) {
        out.push_str(rest);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.set("app", "blog").flag("db", true).flag("html", false);
        v
    }

    #[test]
    fn keys_and_inline_and_line_conditionals() {
        let text = "name = {{zzz:app}}\n{{zzz:if db}}\nrepo\n{{zzz:else}}\nno repo\n{{zzz:end}}\nx{{zzz:if html}} html{{zzz:end}}{{zzz:if !html}} api{{zzz:end}}\n  {{ askama }}\n";
        assert_eq!(render("t", text, &vars()).unwrap().unwrap(), "name = blog\nrepo\nx api\n  {{ askama }}\n");
    }

    #[test]
    fn nested_conditionals() {
        let text = "{{zzz:if html}}\na\n{{zzz:if db}}\nb\n{{zzz:end}}\n{{zzz:else}}\n{{zzz:if db}}\nc\n{{zzz:else}}\nd\n{{zzz:end}}\n{{zzz:end}}\ne\n";
        assert_eq!(render("t", text, &vars()).unwrap().unwrap(), "c\ne\n");
    }

    #[test]
    fn only_skips_whole_files() {
        assert_eq!(render("t", "{{zzz:only html}}\nx\n", &vars()).unwrap(), None);
        assert_eq!(render("t", "{{zzz:only db}}\nx\n", &vars()).unwrap().as_deref(), Some("x\n"));
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(render("t", "{{zzz:nope}}", &vars()).unwrap_err(), "template t: unknown key `nope`");
        assert_eq!(render("t", "{{zzz:if x}}{{zzz:end}}", &vars()).unwrap_err(), "template t: unknown flag `x`");
        assert_eq!(render("t", "{{zzz:if db}}", &vars()).unwrap_err(), "template t: `if` without `end`");
    }

    #[test]
    fn output_paths() {
        assert_eq!(output_path("Cargo.toml.tmpl"), "Cargo.toml");
        assert_eq!(output_path("gitignore"), ".gitignore");
        assert_eq!(output_path("src/main.rs"), "src/main.rs");
    }

    #[test]
    fn every_embedded_template_renders_with_every_flag_combination() {
        const FLAGS: &[&str] = &["db", "html", "channels", "postgres"];
        for bits in 0..(1u32 << FLAGS.len()) {
            let mut v = Vars::default();
            for (i, flag) in FLAGS.iter().enumerate() {
                v.flag(flag, bits & (1 << i) != 0);
            }
            v.flag("sqlite", bits & (1 << 3) == 0);
            for key in crate::commands::new::KEYS.iter().chain(crate::commands::generate::KEYS) {
                v.set(key, "x");
            }
            for (path, text) in embedded::FILES {
                if path.ends_with(".md") && path.split('/').count() == 1 {
                    continue; // templates/README.md describes the directory
                }
                render(path, text, &v).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}
