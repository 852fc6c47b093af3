//! Names: what an app, a module or a type may be called, and the case conversions the
//! generators need (`BlogPost` ↔ `blog_post`).

/// Rust's keywords, strict and reserved: none can name a crate or a module.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static",
    "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do",
    "final", "gen", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// Crate names an app cannot take: the standard crates, the zzz crates and the crates a
/// generated app depends on (the app's own name would shadow them), and names cargo
/// gives a meaning to.
const RESERVED: &[&str] = &[
    "std", "core", "alloc", "proc_macro", "test", "build", "deps", "examples", "incremental", "zzz", "zzz_db", "zzz_jobs",
    "zzz_macros", "zzz_cli", "tokio", "serde", "serde_json", "tracing", "tracing_subscriber", "chrono",
];

/// Checks an app name: snake_case ASCII (`my_app`), starting with a letter, not a Rust
/// keyword nor a reserved crate name.
///
/// # Errors
/// Why the name cannot be used, with a suggestion where one exists.
pub fn check_app_name(name: &str) -> Result<(), String> {
    let snake = to_snake(name);
    let hint = if !snake.is_empty() && snake != name && is_snake(&snake) { format!(" (try `{snake}`)") } else { String::new() };
    if name.is_empty() {
        return Err("the app name is empty".into());
    }
    if !is_snake(name) {
        return Err(format!(
            "invalid app name `{name}`: use lowercase ASCII letters, digits and underscores, starting with a letter{hint}"
        ));
    }
    if KEYWORDS.contains(&name) {
        return Err(format!("invalid app name `{name}`: it is a Rust keyword"));
    }
    if RESERVED.contains(&name) {
        return Err(format!("invalid app name `{name}`: it is reserved (it names a crate the app uses or cargo's own)"));
    }
    Ok(())
}

/// `^[a-z][a-z0-9_]*$`.
pub fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

/// `BlogPost`, `blog-post`, `blogPost` → `blog_post`.
pub fn to_snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower_or_digit = false;
    for c in name.chars() {
        if c == '-' || c == '_' || c == ' ' {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower_or_digit = false;
        } else if c.is_ascii_uppercase() {
            if prev_lower_or_digit && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower_or_digit = false;
        } else {
            out.push(c);
            prev_lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// `blog_post`, `BlogPost`, `blog-post` → `BlogPost`.
pub fn to_camel(name: &str) -> String {
    to_snake(name)
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Checks a generator's name (a type or module name such as `Post` or `blog_post`).
///
/// # Errors
/// Why it cannot name a Rust type and module.
pub fn check_item_name(what: &str, name: &str) -> Result<(), String> {
    let snake = to_snake(name);
    if !is_snake(&snake) || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("invalid {what} name `{name}`: use letters, digits and underscores, starting with a letter (e.g. `BlogPost`)"));
    }
    if KEYWORDS.contains(&snake.as_str()) || matches!(snake.as_str(), "test" | "std" | "core" | "super" | "crate") {
        return Err(format!("invalid {what} name `{name}`: `{snake}` is a Rust keyword or reserved name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        assert!(check_app_name("my_app").is_ok());
        assert!(check_app_name("blog2").is_ok());
        assert_eq!(
            check_app_name("My-App").unwrap_err(),
            "invalid app name `My-App`: use lowercase ASCII letters, digits and underscores, starting with a letter (try `my_app`)"
        );
        assert!(check_app_name("2fast").unwrap_err().contains("starting with a letter"));
        assert_eq!(check_app_name("match").unwrap_err(), "invalid app name `match`: it is a Rust keyword");
        assert!(check_app_name("zzz").unwrap_err().contains("reserved"));
        assert!(check_app_name("test").unwrap_err().contains("reserved"));
        assert!(check_app_name("").unwrap_err().contains("empty"));
    }

    #[test]
    fn case_conversions() {
        assert_eq!(to_snake("BlogPost"), "blog_post");
        assert_eq!(to_snake("blog-post"), "blog_post");
        assert_eq!(to_snake("Post2Tag"), "post2_tag");
        assert_eq!(to_camel("blog_post"), "BlogPost");
        assert_eq!(to_camel("BlogPost"), "BlogPost");
    }

    #[test]
    fn item_names() {
        assert!(check_item_name("model", "BlogPost").is_ok());
        assert!(check_item_name("model", "Blog Post").is_err());
        assert!(check_item_name("model", "Type").unwrap_err().contains("keyword"));
    }
}
