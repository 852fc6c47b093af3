//! Migration {{zzz:version}}: {{zzz:migration_name}}.

{{zzz:migration_imports}}

/// {{zzz:migration_doc}}
pub fn migration() -> Migration {
    Migration::new({{zzz:version}}, "{{zzz:migration_name}}", |{{zzz:ops_var}}| {
{{zzz:migration_body}}
    })
}
