//! The `{{zzz:name}}` controller.

use crate::support;
{{zzz:actions}}
