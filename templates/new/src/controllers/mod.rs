//! The handlers the router calls, one module per controller. `zzz gen controller` and
//! `zzz gen resource` add modules at the marker.

pub mod health_controller;
pub mod page_controller;
// zzz:controllers
