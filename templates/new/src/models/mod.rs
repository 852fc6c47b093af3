{{zzz:only db}}
//! The app's data: schemas (`#[derive(Schema)]` structs) and their changesets.
//! `zzz gen model` and `zzz gen resource` add modules at the marker.

// zzz:models
