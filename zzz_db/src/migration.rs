//! migrations
pub struct Migration; pub struct Migrator;
