//! Migrations: a portable DSL rendered per dialect, a `schema_migrations` table, and
//! run / rollback / status as a library API.
//!
//! ```
//! use zzz_db::migration::{Migration, ColumnType as T, OnDelete};
//!
//! let m = Migration::new(20240101120000, "create_posts", |m| {
//!     m.create_table("posts", |t| {
//!         t.add("title", T::String).not_null();
//!         t.add("views", T::Integer).not_null().default(0);
//!         t.references("user_id", "users", OnDelete::DeleteAll);
//!         t.timestamps();
//!     });
//!     m.create_index("posts", &["user_id"]);
//! });
//! // No explicit `down`: create_table and create_index are reversed automatically.
//! let sql = m.up_sql(zzz_db::Dialect::Postgres).unwrap();
//! assert!(sql[0].starts_with("CREATE TABLE \"posts\""));
//! ```

use crate::error::{Error, MigrationError};
use crate::repo::Repo;
use crate::sql::{Dialect, quote_ident};
use crate::value::Value;

/// Portable column types (Ecto's migration types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// 64-bit integer (`bigint`; `INTEGER` on SQLite).
    BigInt,
    /// 32-bit integer.
    Integer,
    /// Double-precision float.
    Float,
    /// Boolean.
    Boolean,
    /// `varchar(255)` on Postgres, `TEXT` on SQLite.
    String,
    /// Unbounded text.
    Text,
    /// Bytes.
    Binary,
    /// UUID (`uuid`; `TEXT` on SQLite).
    Uuid,
    /// JSON (`jsonb`; `TEXT` on SQLite).
    Map,
    /// Timestamp without time zone (Ecto's `naive_datetime`).
    NaiveDateTime,
    /// Timestamp with time zone (Ecto's `utc_datetime`).
    UtcDateTime,
    /// Date.
    Date,
}

impl ColumnType {
    fn sql(self, d: Dialect) -> &'static str {
        match (self, d) {
            (ColumnType::BigInt, Dialect::Postgres) => "BIGINT",
            (ColumnType::Integer, Dialect::Postgres) => "INTEGER",
            (ColumnType::BigInt | ColumnType::Integer, Dialect::Sqlite) => "INTEGER",
            (ColumnType::Float, Dialect::Postgres) => "DOUBLE PRECISION",
            (ColumnType::Float, Dialect::Sqlite) => "REAL",
            (ColumnType::Boolean, _) => "BOOLEAN",
            (ColumnType::String, Dialect::Postgres) => "VARCHAR(255)",
            (ColumnType::String | ColumnType::Text, _) => "TEXT",
            (ColumnType::Binary, Dialect::Postgres) => "BYTEA",
            (ColumnType::Binary, Dialect::Sqlite) => "BLOB",
            (ColumnType::Uuid, Dialect::Postgres) => "UUID",
            (ColumnType::Map, Dialect::Postgres) => "JSONB",
            (ColumnType::Uuid | ColumnType::Map, Dialect::Sqlite) => "TEXT",
            (ColumnType::NaiveDateTime, Dialect::Postgres) => "TIMESTAMP",
            (ColumnType::UtcDateTime, Dialect::Postgres) => "TIMESTAMPTZ",
            (ColumnType::NaiveDateTime | ColumnType::UtcDateTime, Dialect::Sqlite) => "TEXT",
            (ColumnType::Date, Dialect::Postgres) => "DATE",
            (ColumnType::Date, Dialect::Sqlite) => "TEXT",
        }
    }
}

/// What happens to referencing rows when the referenced row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// No action (the default): the delete fails while rows reference it.
    Nothing,
    /// `RESTRICT`.
    Restrict,
    /// `CASCADE`.
    DeleteAll,
    /// `SET NULL`.
    NilifyAll,
}

/// A column default, rendered as a SQL literal (DDL cannot take bound parameters;
/// migrations are developer code, and strings are escaped).
#[derive(Debug, Clone)]
pub enum DefaultValue {
    /// A literal value.
    Value(Value),
    /// Raw SQL such as `CURRENT_TIMESTAMP`.
    Raw(&'static str),
}

impl From<i64> for DefaultValue {
    fn from(v: i64) -> Self {
        DefaultValue::Value(Value::Int(v))
    }
}
impl From<i32> for DefaultValue {
    fn from(v: i32) -> Self {
        DefaultValue::Value(Value::Int(v.into()))
    }
}
impl From<bool> for DefaultValue {
    fn from(v: bool) -> Self {
        DefaultValue::Value(Value::Bool(v))
    }
}
impl From<&str> for DefaultValue {
    fn from(v: &str) -> Self {
        DefaultValue::Value(Value::Text(v.to_string()))
    }
}
impl From<f64> for DefaultValue {
    fn from(v: f64) -> Self {
        DefaultValue::Value(Value::Float(v))
    }
}

fn literal(v: &DefaultValue, d: Dialect) -> Result<String, String> {
    Ok(match v {
        DefaultValue::Raw(s) => s.to_string(),
        DefaultValue::Value(v) => match v {
            Value::Null => "NULL".into(),
            Value::Bool(b) => match d {
                Dialect::Postgres => if *b { "TRUE" } else { "FALSE" }.into(),
                Dialect::Sqlite => if *b { "1" } else { "0" }.into(),
            },
            Value::Int(i) => i.to_string(),
            Value::Float(f) if f.is_finite() => format!("{f:?}"),
            Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Value::Json(j) => format!("'{}'", j.to_string().replace('\'', "''")),
            other => return Err(format!("unsupported default value {other:?}; use DefaultValue::Raw")),
        },
    })
}

/// A column definition.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    name: String,
    ty: ColumnType,
    null: bool,
    default: Option<DefaultValue>,
    references: Option<(String, String, OnDelete)>,
    table: String,
}

impl ColumnDef {
    /// `NOT NULL`.
    pub fn not_null(&mut self) -> &mut Self {
        self.null = false;
        self
    }
    /// A default value.
    pub fn default(&mut self, v: impl Into<DefaultValue>) -> &mut Self {
        self.default = Some(v.into());
        self
    }
    fn render(&self, d: Dialect) -> Result<String, String> {
        let mut s = format!("{} {}", quote_ident(&self.name), self.ty.sql(d));
        if !self.null {
            s.push_str(" NOT NULL");
        }
        if let Some(def) = &self.default {
            s.push_str(" DEFAULT ");
            s.push_str(&literal(def, d)?);
        }
        if let Some((table, col, on_delete)) = &self.references {
            s.push_str(&format!(
                " CONSTRAINT {} REFERENCES {}({})",
                quote_ident(&format!("{}_{}_fkey", self.table, self.name)),
                quote_ident(table),
                quote_ident(col)
            ));
            s.push_str(match on_delete {
                OnDelete::Nothing => "",
                OnDelete::Restrict => " ON DELETE RESTRICT",
                OnDelete::DeleteAll => " ON DELETE CASCADE",
                OnDelete::NilifyAll => " ON DELETE SET NULL",
            });
        }
        Ok(s)
    }
}

/// Primary key of a created table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryKey {
    /// `id` bigint, assigned by the database (the default).
    BigSerial,
    /// `id` UUID, assigned by zzz_db on insert.
    Uuid,
    /// No automatic primary key.
    None,
}

/// The body of `create_table` / `alter_table`.
#[derive(Debug, Clone)]
pub struct TableDef {
    name: String,
    primary_key: PrimaryKey,
    columns: Vec<ColumnDef>,
    checks: Vec<(String, String)>,
    removes: Vec<String>,
    renames: Vec<(String, String)>,
    modifies: Vec<ColumnDef>,
}

impl TableDef {
    fn new(name: &str) -> Self {
        TableDef {
            name: name.into(),
            primary_key: PrimaryKey::BigSerial,
            columns: vec![],
            checks: vec![],
            removes: vec![],
            renames: vec![],
            modifies: vec![],
        }
    }
    /// Choose the primary key (create only).
    pub fn primary_key(&mut self, pk: PrimaryKey) -> &mut Self {
        self.primary_key = pk;
        self
    }
    /// Add a (nullable) column.
    pub fn add(&mut self, name: &str, ty: ColumnType) -> &mut ColumnDef {
        self.columns.push(ColumnDef { name: name.into(), ty, null: true, default: None, references: None, table: self.name.clone() });
        self.columns.last_mut().unwrap()
    }
    /// Add a foreign key column `name` referencing `table(id)` (bigint, or UUID if you
    /// call `.uuid()` on the result... use [`references_uuid`](Self::references_uuid)).
    pub fn references(&mut self, name: &str, table: &str, on_delete: OnDelete) -> &mut ColumnDef {
        let c = self.add(name, ColumnType::BigInt);
        c.references = Some((table.into(), "id".into(), on_delete));
        c
    }
    /// A UUID foreign key column.
    pub fn references_uuid(&mut self, name: &str, table: &str, on_delete: OnDelete) -> &mut ColumnDef {
        let c = self.add(name, ColumnType::Uuid);
        c.references = Some((table.into(), "id".into(), on_delete));
        c
    }
    /// `inserted_at` and `updated_at`, NOT NULL naive timestamps.
    pub fn timestamps(&mut self) -> &mut Self {
        self.add("inserted_at", ColumnType::NaiveDateTime).not_null();
        self.add("updated_at", ColumnType::NaiveDateTime).not_null();
        self
    }
    /// A named CHECK constraint (create only; SQLite cannot add constraints later).
    pub fn check(&mut self, name: &str, expr: &str) -> &mut Self {
        self.checks.push((name.into(), expr.into()));
        self
    }
    /// Drop a column (alter only).
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.removes.push(name.into());
        self
    }
    /// Change a column's type, nullability and default (alter only). Give the full new
    /// definition. Postgres alters the column; SQLite cannot, so the migrator rebuilds the
    /// table (rename aside, create, copy rows, drop, recreate indexes, check foreign keys)
    /// inside the migration's transaction.
    pub fn modify(&mut self, name: &str, ty: ColumnType) -> &mut ColumnDef {
        self.modifies.push(ColumnDef { name: name.into(), ty, null: true, default: None, references: None, table: self.name.clone() });
        self.modifies.last_mut().unwrap()
    }
    /// Rename a column (alter only).
    pub fn rename(&mut self, from: &str, to: &str) -> &mut Self {
        self.renames.push((from.into(), to.into()));
        self
    }
}

/// One migration operation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Op {
    /// CREATE TABLE.
    CreateTable(TableDef, bool),
    /// ALTER TABLE (add/remove/rename columns).
    AlterTable(TableDef),
    /// DROP TABLE.
    DropTable(String, bool),
    /// ALTER TABLE … RENAME TO.
    RenameTable(String, String),
    /// `CREATE [UNIQUE] INDEX`.
    CreateIndex {
        /// Table.
        table: String,
        /// Columns.
        columns: Vec<String>,
        /// Unique?
        unique: bool,
        /// Index name.
        name: String,
    },
    /// DROP INDEX.
    DropIndex(String),
    /// Raw SQL; `None` for a dialect means "same as the other".
    Execute {
        /// SQL for SQLite.
        sqlite: Option<String>,
        /// SQL for Postgres.
        postgres: Option<String>,
    },
}

/// Collects operations inside `up` / `down`.
#[derive(Debug, Default, Clone)]
pub struct Ops(Vec<Op>);

impl Ops {
    /// `create table`.
    pub fn create_table(&mut self, name: &str, f: impl FnOnce(&mut TableDef)) {
        let mut t = TableDef::new(name);
        f(&mut t);
        self.0.push(Op::CreateTable(t, false));
    }
    /// `create_if_not_exists table`.
    pub fn create_table_if_not_exists(&mut self, name: &str, f: impl FnOnce(&mut TableDef)) {
        let mut t = TableDef::new(name);
        f(&mut t);
        self.0.push(Op::CreateTable(t, true));
    }
    /// `alter table`: add / remove / rename columns.
    pub fn alter_table(&mut self, name: &str, f: impl FnOnce(&mut TableDef)) {
        let mut t = TableDef::new(name);
        f(&mut t);
        self.0.push(Op::AlterTable(t));
    }
    /// `drop table`.
    pub fn drop_table(&mut self, name: &str) {
        self.0.push(Op::DropTable(name.into(), false));
    }
    /// `drop_if_exists table`.
    pub fn drop_table_if_exists(&mut self, name: &str) {
        self.0.push(Op::DropTable(name.into(), true));
    }
    /// `rename table`.
    pub fn rename_table(&mut self, from: &str, to: &str) {
        self.0.push(Op::RenameTable(from.into(), to.into()));
    }
    /// `create index(table, columns)`, named `<table>_<cols>_index`.
    pub fn create_index(&mut self, table: &str, columns: &[&str]) {
        self.index(table, columns, false);
    }
    /// `create unique_index(table, columns)`, named `<table>_<cols>_index` (the name
    /// `unique_constraint` expects).
    pub fn create_unique_index(&mut self, table: &str, columns: &[&str]) {
        self.index(table, columns, true);
    }
    fn index(&mut self, table: &str, columns: &[&str], unique: bool) {
        let name = format!("{}_{}_index", table, columns.join("_"));
        self.0.push(Op::CreateIndex { table: table.into(), columns: columns.iter().map(|c| c.to_string()).collect(), unique, name });
    }
    /// `drop index`.
    pub fn drop_index(&mut self, name: &str) {
        self.0.push(Op::DropIndex(name.into()));
    }
    /// Raw SQL for both dialects.
    pub fn execute(&mut self, sql: &str) {
        self.0.push(Op::Execute { sqlite: Some(sql.into()), postgres: Some(sql.into()) });
    }
    /// Raw SQL for one dialect only (skipped on the other).
    pub fn execute_for(&mut self, dialect: Dialect, sql: &str) {
        let (s, p) = match dialect {
            Dialect::Sqlite => (Some(sql.into()), Some(String::new())),
            Dialect::Postgres => (Some(String::new()), Some(sql.into())),
        };
        self.0.push(Op::Execute { sqlite: s, postgres: p });
    }
}

fn reverse(ops: &[Op]) -> Result<Vec<Op>, String> {
    let mut out = Vec::new();
    for op in ops.iter().rev() {
        out.push(match op {
            Op::CreateTable(t, _) => Op::DropTable(t.name.clone(), false),
            Op::CreateIndex { name, .. } => Op::DropIndex(name.clone()),
            Op::RenameTable(a, b) => Op::RenameTable(b.clone(), a.clone()),
            Op::AlterTable(t) if t.removes.is_empty() && t.modifies.is_empty() => {
                let mut r = TableDef::new(&t.name);
                for c in t.columns.iter().rev() {
                    r.removes.push(c.name.clone());
                }
                for (a, b) in t.renames.iter().rev() {
                    r.renames.push((b.clone(), a.clone()));
                }
                Op::AlterTable(r)
            }
            other => return Err(format!("{other:?} cannot be reversed automatically; give the migration an explicit down")),
        });
    }
    Ok(out)
}

fn render(op: &Op, d: Dialect) -> Result<Vec<String>, String> {
    Ok(match op {
        Op::CreateTable(t, ine) => {
            let mut parts = Vec::new();
            match (t.primary_key, d) {
                (PrimaryKey::BigSerial, Dialect::Postgres) => parts.push("\"id\" BIGSERIAL PRIMARY KEY".to_string()),
                (PrimaryKey::BigSerial, Dialect::Sqlite) => parts.push("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT".to_string()),
                (PrimaryKey::Uuid, Dialect::Postgres) => parts.push("\"id\" UUID PRIMARY KEY".to_string()),
                (PrimaryKey::Uuid, Dialect::Sqlite) => parts.push("\"id\" TEXT PRIMARY KEY".to_string()),
                (PrimaryKey::None, _) => {}
            }
            for c in &t.columns {
                parts.push(c.render(d)?);
            }
            for (name, expr) in &t.checks {
                parts.push(format!("CONSTRAINT {} CHECK ({})", quote_ident(name), expr));
            }
            vec![format!(
                "CREATE TABLE {}{} ({})",
                if *ine { "IF NOT EXISTS " } else { "" },
                quote_ident(&t.name),
                parts.join(", ")
            )]
        }
        Op::AlterTable(t) => {
            if !t.checks.is_empty() && d == Dialect::Sqlite {
                return Err(format!("SQLite cannot add a CHECK constraint to existing table `{}`; rebuild the table", t.name));
            }
            let mut out = Vec::new();
            let tn = quote_ident(&t.name);
            for c in &t.columns {
                if d == Dialect::Sqlite && !c.null && c.default.is_none() {
                    return Err(format!(
                        "SQLite cannot add NOT NULL column `{}` to `{}` without a default; add a default or make it nullable",
                        c.name, t.name
                    ));
                }
                out.push(format!("ALTER TABLE {tn} ADD COLUMN {}", c.render(d)?));
            }
            for (a, b) in &t.renames {
                out.push(format!("ALTER TABLE {tn} RENAME COLUMN {} TO {}", quote_ident(a), quote_ident(b)));
            }
            for r in &t.removes {
                out.push(format!("ALTER TABLE {tn} DROP COLUMN {}", quote_ident(r)));
            }
            for c in &t.modifies {
                if d == Dialect::Sqlite {
                    // SQLite cannot alter a column: the migrator rebuilds the table (see `sqlite_rebuild`).
                    if c.references.is_some() {
                        return Err(format!("SQLite rebuild of `{}`: modify cannot add a reference to `{}`", t.name, c.name));
                    }
                    out.push(format!("{REBUILD}\n{}\n{}\n{}", t.name, c.name, c.render(d)?));
                    continue;
                }
                let col = quote_ident(&c.name);
                let ty = c.ty.sql(d);
                let mut parts = vec![format!("ALTER COLUMN {col} TYPE {ty} USING {col}::{ty}")];
                parts.push(format!("ALTER COLUMN {col} {} NOT NULL", if c.null { "DROP" } else { "SET" }));
                match &c.default {
                    Some(def) => parts.push(format!("ALTER COLUMN {col} SET DEFAULT {}", literal(def, d)?)),
                    None => parts.push(format!("ALTER COLUMN {col} DROP DEFAULT")),
                }
                out.push(format!("ALTER TABLE {tn} {}", parts.join(", ")));
            }
            for (name, expr) in &t.checks {
                out.push(format!("ALTER TABLE {tn} ADD CONSTRAINT {} CHECK ({})", quote_ident(name), expr));
            }
            out
        }
        Op::DropTable(n, ie) => vec![format!("DROP TABLE {}{}", if *ie { "IF EXISTS " } else { "" }, quote_ident(n))],
        Op::RenameTable(a, b) => vec![format!("ALTER TABLE {} RENAME TO {}", quote_ident(a), quote_ident(b))],
        Op::CreateIndex { table, columns, unique, name } => vec![format!(
            "CREATE {}INDEX {} ON {} ({})",
            if *unique { "UNIQUE " } else { "" },
            quote_ident(name),
            quote_ident(table),
            columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
        )],
        Op::DropIndex(n) => vec![format!("DROP INDEX {}", quote_ident(n))],
        Op::Execute { sqlite, postgres } => {
            let s = match d {
                Dialect::Sqlite => sqlite.clone().or_else(|| postgres.clone()),
                Dialect::Postgres => postgres.clone().or_else(|| sqlite.clone()),
            };
            match s {
                Some(s) if !s.is_empty() => vec![s],
                _ => vec![],
            }
        }
    })
}

/// One migration: a version (e.g. a timestamp `20240101120000`), a name, `up`
/// operations and optionally explicit `down` operations.
#[derive(Debug, Clone)]
pub struct Migration {
    /// Version (unique, ordering).
    pub version: i64,
    /// Name.
    pub name: String,
    up: Ops,
    down: Option<Ops>,
}

impl Migration {
    /// A migration whose `down` is derived by reversing `up` where possible.
    pub fn new(version: i64, name: &str, up: impl FnOnce(&mut Ops)) -> Self {
        let mut ops = Ops::default();
        up(&mut ops);
        Migration { version, name: name.into(), up: ops, down: None }
    }
    /// Give an explicit `down`.
    pub fn down(mut self, down: impl FnOnce(&mut Ops)) -> Self {
        let mut ops = Ops::default();
        down(&mut ops);
        self.down = Some(ops);
        self
    }
    /// The SQL statements of `up` for a dialect.
    pub fn up_sql(&self, d: Dialect) -> Result<Vec<String>, Error> {
        self.render_ops(&self.up.0, d)
    }
    /// The SQL statements of `down` for a dialect.
    pub fn down_sql(&self, d: Dialect) -> Result<Vec<String>, Error> {
        let ops = match &self.down {
            Some(o) => o.0.clone(),
            None => reverse(&self.up.0).map_err(|m| self.err(m))?,
        };
        self.render_ops(&ops, d)
    }
    fn render_ops(&self, ops: &[Op], d: Dialect) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for op in ops {
            out.extend(render(op, d).map_err(|m| self.err(m))?);
        }
        Ok(out)
    }
    fn err(&self, m: String) -> Error {
        Error::Migration(MigrationError { version: Some(self.version), message: format!("{} ({})", m, self.name) })
    }
}

/// The state of one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Version.
    pub version: i64,
    /// Name (`"** NO FILE **"` for an applied version unknown to this migrator).
    pub name: String,
    /// Applied?
    pub applied: bool,
}

impl std::fmt::Display for MigrationStatus {
    /// `  up     20240101000001  create_users` (the layout of `mix ecto.migrations`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "  {:<6} {:<16} {}", if self.applied { "up" } else { "down" }, self.version, self.name)
    }
}

/// Runs a set of migrations against a repo, recording them in `schema_migrations`.
#[derive(Debug, Clone)]
pub struct Migrator {
    migrations: Vec<Migration>,
}

/// Marker of a SQLite table rebuild in rendered migration SQL (an SQL comment).
const REBUILD: &str = "-- zzz:rebuild";

fn needs_fks_off(repo: &Repo, stmts: &[String]) -> bool {
    repo.dialect() == Dialect::Sqlite && stmts.iter().any(|s| s.starts_with(REBUILD))
}

/// Run one migration's statements and bookkeeping in `tx`; `Ok(false)` if another node
/// applied it first.
async fn apply(mut tx: crate::Tx<'_>, m: &Migration, stmts: &[String], up: bool) -> Result<bool, Error> {
    if tx.dialect() == Dialect::Postgres {
        tx.execute_sql("SELECT pg_advisory_xact_lock(?)", vec![Value::Int(LOCK_KEY)]).await?;
    }
    if up {
        let already: Option<i64> =
            tx.query_scalar("SELECT version FROM schema_migrations WHERE version = ?", vec![Value::Int(m.version)]).await?;
        if already.is_some() {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    for s in stmts {
        exec_stmt(&mut tx, s).await.map_err(|e| m.err(format!("`{s}`: {e}")))?;
    }
    if up {
        tx.execute_sql(
            "INSERT INTO schema_migrations (version, inserted_at) VALUES (?, ?)",
            vec![Value::Int(m.version), Value::DateTime(chrono::Utc::now().naive_utc())],
        )
        .await?;
    } else {
        tx.execute_sql("DELETE FROM schema_migrations WHERE version = ?", vec![Value::Int(m.version)]).await?;
    }
    tx.commit().await?;
    Ok(true)
}

async fn apply_on(repo: &Repo, m: &Migration, stmts: &[String], up: bool) -> Result<bool, Error> {
    if needs_fks_off(repo, stmts) {
        let mut fk = repo.sqlite_fks_off().await?;
        let r = match fk.begin().await {
            Ok(tx) => apply(tx, m, stmts, up).await,
            Err(e) => Err(e),
        };
        fk.restore().await?;
        r
    } else {
        apply(repo.begin().await?, m, stmts, up).await
    }
}

async fn exec_stmt(tx: &mut crate::Tx<'_>, s: &str) -> Result<(), Error> {
    match s.strip_prefix(REBUILD) {
        Some(rest) => {
            let mut parts = rest.trim_start_matches('\n').splitn(3, '\n');
            let (table, column, def) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            sqlite_rebuild(tx, table, column, def).await
        }
        None => tx.execute_raw(s).await,
    }
}

/// Split `CREATE TABLE x (a, b, CHECK (c, d))` into the text before the list and the
/// top-level items of the list.
fn split_create(sql: &str) -> Option<(String, Vec<String>)> {
    let open = sql.find('(')?;
    let close = sql.rfind(')')?;
    let body = &sql[open + 1..close];
    let (mut items, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None::<char>);
    for ch in body.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"' | '`' | '[') => {
                quote = Some(if ch == '[' { ']' } else { ch });
                cur.push(ch);
            }
            (None, '(') => {
                depth += 1;
                cur.push(ch);
            }
            (None, ')') => {
                depth -= 1;
                cur.push(ch);
            }
            (None, ',') if depth == 0 => items.push(std::mem::take(&mut cur).trim().to_string()),
            (None, c) => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_string());
    }
    Some((sql[..open].trim().to_string(), items))
}

/// The column name an item of a CREATE TABLE list defines, `None` for table constraints.
fn item_column(item: &str) -> Option<String> {
    let item = item.trim_start();
    if let Some(rest) = item.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    name.push('"');
                } else {
                    return Some(name);
                }
            } else {
                name.push(c);
            }
        }
        return None;
    }
    let word: String = item.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    match word.to_ascii_uppercase().as_str() {
        "" | "CONSTRAINT" | "CHECK" | "PRIMARY" | "UNIQUE" | "FOREIGN" => None,
        _ => Some(word),
    }
}

/// SQLite's way to change a column (its documented 12-step procedure): on a connection
/// with foreign keys off (so dropping the table fires no ON DELETE actions), inside the
/// migration's transaction: create the table under a new name with the new column
/// definition, copy the rows, drop the old table, rename the new one, recreate the
/// indexes, and run `foreign_key_check`.
async fn sqlite_rebuild(tx: &mut crate::Tx<'_>, table: &str, column: &str, def: &str) -> Result<(), Error> {
    let fail = |m: String| Error::Migration(MigrationError { version: None, message: format!("SQLite rebuild of `{table}`: {m}") });
    #[derive(crate::Schema, Debug, Clone, Default)]
    #[schema(table = "sqlite_master")]
    struct SqliteMaster {
        #[schema(primary_key)]
        name: String,
        tbl_name: String,
        sql: Option<String>,
    }
    let kind = |k: &'static str| crate::fragment(k, []);
    let create = tx
        .all(crate::Query::from::<SqliteMaster>().select(SqliteMaster::sql).filter(kind("type = 'table'")).filter(SqliteMaster::name.eq(table)))
        .await?
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| fail("no such table".into()))?;
    let indexes: Vec<String> = tx
        .all(
            crate::Query::from::<SqliteMaster>()
                .select(SqliteMaster::sql)
                .filter(kind("type = 'index'"))
                .filter(SqliteMaster::tbl_name.eq(table))
                .filter(SqliteMaster::sql.is_not_null()),
        )
        .await?
        .into_iter()
        .flatten()
        .collect();
    let (_, items) = split_create(&create).ok_or_else(|| fail(format!("cannot parse `{create}`")))?;
    let mut found = false;
    let mut columns = Vec::new();
    let new_items: Vec<String> = items
        .into_iter()
        .map(|it| match item_column(&it) {
            Some(c) => {
                columns.push(quote_ident(&c));
                if c == column {
                    found = true;
                    def.to_string()
                } else {
                    it
                }
            }
            None => it,
        })
        .collect();
    if !found {
        return Err(fail(format!("no column `{column}`")));
    }
    let new = format!("_zzz_new_{table}");
    let cols = columns.join(", ");
    let steps = [
        format!("CREATE TABLE {} ({})", quote_ident(&new), new_items.join(", ")),
        format!("INSERT INTO {} ({cols}) SELECT {cols} FROM {}", quote_ident(&new), quote_ident(table)),
        format!("DROP TABLE {}", quote_ident(table)),
        format!("ALTER TABLE {} RENAME TO {}", quote_ident(&new), quote_ident(table)),
    ];
    for s in steps.iter().chain(indexes.iter()) {
        tx.execute_raw(s).await.map_err(|e| fail(format!("`{s}`: {e}")))?;
    }
    let bad: Option<String> = tx.query_scalar("SELECT \"table\" FROM pragma_foreign_key_check", vec![]).await?;
    if let Some(t) = bad {
        return Err(fail(format!("foreign key check failed in `{t}` after the rebuild")));
    }
    Ok(())
}

const LOCK_KEY: i64 = 0x007a_7a7a_5f6d_6967; // "zzz_mig"

impl Migrator {
    /// A migrator; migrations are ordered by version.
    pub fn new(mut migrations: Vec<Migration>) -> Self {
        migrations.sort_by_key(|m| m.version);
        Migrator { migrations }
    }

    fn check(&self) -> Result<(), Error> {
        for w in self.migrations.windows(2) {
            if w[0].version == w[1].version {
                return Err(Error::Migration(MigrationError {
                    version: Some(w[0].version),
                    message: format!("duplicate migration version ({} and {})", w[0].name, w[1].name),
                }));
            }
        }
        Ok(())
    }

    async fn ensure_table(repo: &Repo) -> Result<(), Error> {
        repo.execute_raw("CREATE TABLE IF NOT EXISTS \"schema_migrations\" (\"version\" BIGINT PRIMARY KEY, \"inserted_at\" TIMESTAMP)")
            .await
    }

    /// Applied versions, ascending.
    pub async fn applied(&self, repo: &Repo) -> Result<Vec<i64>, Error> {
        Self::ensure_table(repo).await?;
        let q = crate::Query::from::<SchemaMigration>().select(SchemaMigration::version).order_by(SchemaMigration::version.asc());
        repo.all(q).await
    }

    /// Every known or applied migration with its state.
    pub async fn status(&self, repo: &Repo) -> Result<Vec<MigrationStatus>, Error> {
        let applied = self.applied(repo).await?;
        let mut out: Vec<MigrationStatus> = self
            .migrations
            .iter()
            .map(|m| MigrationStatus { version: m.version, name: m.name.clone(), applied: applied.contains(&m.version) })
            .collect();
        for v in &applied {
            if !self.migrations.iter().any(|m| m.version == *v) {
                out.push(MigrationStatus { version: *v, name: "** NO FILE **".into(), applied: true });
            }
        }
        out.sort_by_key(|s| s.version);
        Ok(out)
    }

    /// Run every pending migration, each in its own transaction. Returns the versions run.
    pub async fn run(&self, repo: &Repo) -> Result<Vec<i64>, Error> {
        self.run_to(repo, i64::MAX).await
    }

    /// Run pending migrations with version `<= to`.
    pub async fn run_to(&self, repo: &Repo, to: i64) -> Result<Vec<i64>, Error> {
        self.check()?;
        Self::ensure_table(repo).await?;
        let mut done = Vec::new();
        for m in self.migrations.iter().filter(|m| m.version <= to) {
            let stmts = m.up_sql(repo.dialect())?;
            if !apply_on(repo, m, &stmts, true).await? {
                continue;
            }
            tracing::info!(target: "zzz_db::migration", version = m.version, name = %m.name, "migrated up");
            done.push(m.version);
        }
        Ok(done)
    }

    /// Roll back every applied migration newer than `version` (newest first).
    pub async fn rollback_to(&self, repo: &Repo, version: i64) -> Result<Vec<i64>, Error> {
        let n = self.applied(repo).await?.into_iter().filter(|v| *v > version).count();
        self.rollback(repo, n).await
    }

    /// Roll back the last `steps` applied migrations (newest first). Returns the versions.
    pub async fn rollback(&self, repo: &Repo, steps: usize) -> Result<Vec<i64>, Error> {
        self.check()?;
        let applied = self.applied(repo).await?;
        let mut done = Vec::new();
        for v in applied.iter().rev().take(steps) {
            let m = self.migrations.iter().find(|m| m.version == *v).ok_or_else(|| {
                Error::Migration(MigrationError { version: Some(*v), message: "applied migration not found in this migrator".into() })
            })?;
            let stmts = m.down_sql(repo.dialect())?;
            apply_on(repo, m, &stmts, false).await?;
            tracing::info!(target: "zzz_db::migration", version = m.version, name = %m.name, "rolled back");
            done.push(m.version);
        }
        Ok(done)
    }
}

/// The `schema_migrations` table.
#[derive(Debug, Clone, Default, zzz_macros::Schema)]
#[schema(table = "schema_migrations")]
#[doc(hidden)]
pub struct SchemaMigration {
    #[schema(primary_key)]
    pub version: i64,
}
