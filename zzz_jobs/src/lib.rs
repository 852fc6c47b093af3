//! # zzz_jobs
//!
//! An Oban-like job queue on zzz_db. Not built yet: see the zzz_jobs issue.
