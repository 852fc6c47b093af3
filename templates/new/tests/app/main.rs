//! The app's tests, in one test binary (one link, however many test files): each module
//! below is a test file. `zzz gen` adds modules at the marker.

mod support;

mod config_test;
mod health_controller_test;
mod page_controller_test;
{{zzz:if channels}}
mod room_channel_test;
{{zzz:end}}
// zzz:test-mods
