//! The `{{zzz:schema}}` schema (table `{{zzz:table}}`) and its changeset.

use serde::Serialize;
use zzz_db::{Changeset, Schema};

/// One row of `{{zzz:table}}`.
#[derive(Schema, Serialize, Debug, Clone, Default, PartialEq)]
#[schema(table = "{{zzz:table}}")]
pub struct {{zzz:schema}} {
    /// The primary key, assigned by the database.
    pub id: i64,
{{zzz:struct_fields}}
    /// When the row was inserted.
    pub inserted_at: chrono::NaiveDateTime,
    /// When the row was last updated.
    pub updated_at: chrono::NaiveDateTime,
}

impl {{zzz:schema}} {
    /// The fields a client may set.
    pub const FIELDS: &'static [&'static str] = &[{{zzz:field_list}}];

    /// Casts `params` (JSON, or a decoded form: strings are cast to the field types) into
    /// changes of `{{zzz:var}}`, and validates them.
    pub fn changeset({{zzz:var}}: {{zzz:schema}}, params: &serde_json::Value) -> Changeset<{{zzz:schema}}> {
        Changeset::cast({{zzz:var}}, params, Self::FIELDS)
            .validate_required(&[{{zzz:required_list}}]){{zzz:validations}}
    }
}
