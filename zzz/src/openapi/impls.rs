//! How zzz's extractors and response types document themselves.

use std::borrow::Cow;

use bytes::Bytes;
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::operation::{OperationDoc, OperationInput, OperationOutput, PathParamsDoc};
use crate::extract::{Assign, Json, Path, Query, State};
use crate::response::{Html, Redirect, Response};
use crate::{Body, Conn};

// ----- inputs -----

impl<T: PathParamsDoc> OperationInput for Path<T> {
    fn document(op: &mut OperationDoc) {
        T::document(op);
        op.add_text_error(400, "A path parameter is not valid (the message names it)");
    }
}

macro_rules! path_single {
    ($($ty:ty),*) => {
        $(
            impl PathParamsDoc for $ty {
                fn document(op: &mut OperationDoc) {
                    for name in op.path_param_names().to_vec() {
                        op.set_path_param(name, <$ty as PartialSchema>::schema());
                    }
                }
            }
        )*
    };
}
path_single!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, bool, String, char);

macro_rules! path_tuple {
    ($($ty:ident => $idx:tt),*) => {
        impl<$($ty: PartialSchema),*> PathParamsDoc for ($($ty,)*) {
            fn document(op: &mut OperationDoc) {
                let names = op.path_param_names().to_vec();
                $(
                    if let Some(name) = names.get($idx) {
                        op.set_path_param(name, $ty::schema());
                    }
                )*
            }
        }
    };
}
path_tuple!(A => 0);
path_tuple!(A => 0, B => 1);
path_tuple!(A => 0, B => 1, C => 2);
path_tuple!(A => 0, B => 1, C => 2, D => 3);
path_tuple!(A => 0, B => 1, C => 2, D => 3, E => 4);
path_tuple!(A => 0, B => 1, C => 2, D => 3, E => 4, F => 5);

impl<T: IntoParams> OperationInput for Query<T> {
    fn document(op: &mut OperationDoc) {
        for param in T::into_params(|| Some(ParameterIn::Query)) {
            op.put_param(param);
        }
        op.add_text_error(400, "A query parameter is missing or not valid (the message names it)");
    }
}

impl<T: ToSchema> OperationInput for Json<T> {
    fn document(op: &mut OperationDoc) {
        let schema = op.schema_ref::<T>();
        op.set_request_body("application/json", schema);
        op.add_text_error(400, "The body is not valid JSON (the message gives line and column)");
        op.add_text_error(413, "The body is larger than the endpoint's limit");
        op.add_text_error(415, "The request's Content-Type is not application/json");
        op.add_text_error(422, "The JSON does not fit the expected shape (the message names the field)");
    }
}

impl OperationInput for Bytes {
    fn document(op: &mut OperationDoc) {
        op.set_optional_request_body("application/octet-stream", None);
        op.add_text_error(413, "The body is larger than the endpoint's limit");
    }
}

impl OperationInput for String {
    fn document(op: &mut OperationDoc) {
        op.set_optional_request_body("text/plain", Some(String::schema()));
        op.add_text_error(400, "The body is not valid UTF-8");
        op.add_text_error(413, "The body is larger than the endpoint's limit");
    }
}

macro_rules! documents_nothing {
    ($($ty:ty),*) => {
        $( impl OperationInput for $ty {} )*
    };
}
documents_nothing!(Conn, http::HeaderMap, http::Method, http::Uri);

impl<T> OperationInput for State<T> {}
impl<T> OperationInput for Assign<T> {}
impl<T: OperationInput> OperationInput for Option<T> {}

// ----- outputs -----

fn text_ok(op: &mut OperationDoc) {
    op.add_response("200", "OK", Some(("text/plain", String::schema())));
}

impl OperationOutput for &'static str {
    fn document(op: &mut OperationDoc) {
        text_ok(op);
    }
}

impl OperationOutput for String {
    fn document(op: &mut OperationDoc) {
        text_ok(op);
    }
}

impl OperationOutput for Cow<'static, str> {
    fn document(op: &mut OperationDoc) {
        text_ok(op);
    }
}

impl<T: ToSchema> OperationOutput for Json<T> {
    fn document(op: &mut OperationDoc) {
        let schema = op.schema_ref::<T>();
        op.add_response("200", "OK", Some(("application/json", schema)));
    }
}

impl<T> OperationOutput for Html<T> {
    fn document(op: &mut OperationDoc) {
        op.add_response("200", "An HTML page", Some(("text/html", String::schema())));
    }
}

impl OperationOutput for Bytes {
    fn document(op: &mut OperationDoc) {
        op.add_response_any("200", "OK", "application/octet-stream");
    }
}

impl OperationOutput for Vec<u8> {
    fn document(op: &mut OperationDoc) {
        op.add_response_any("200", "OK", "application/octet-stream");
    }
}

impl OperationOutput for () {
    fn document(op: &mut OperationDoc) {
        op.add_response("200", "OK, with an empty body", None);
    }
}

impl OperationOutput for Redirect {
    fn document(op: &mut OperationDoc) {
        op.add_response("302", "A redirect; the target is in the Location header", None);
    }
}

impl OperationOutput for http::StatusCode {
    fn document(op: &mut OperationDoc) {
        op.add_response("default", "A status with an empty body", None);
    }
}

impl<T: OperationOutput> OperationOutput for (http::StatusCode, T) {
    fn document(op: &mut OperationDoc) {
        let mut inner = OperationDoc::new(&[]);
        T::document(&mut inner);
        inner.move_ok_to("default");
        merge_responses(op, inner);
    }
}

impl<T: OperationOutput, E: OperationOutput> OperationOutput for Result<T, E> {
    fn document(op: &mut OperationDoc) {
        T::document(op);
        E::document(op);
    }
}

macro_rules! default_response {
    ($($ty:ty),*) => {
        $(
            impl OperationOutput for $ty {
                fn document(op: &mut OperationDoc) {
                    op.add_response("default", "A response built by the handler", None);
                }
            }
        )*
    };
}
default_response!(Conn, Response, Body);

fn merge_responses(op: &mut OperationDoc, mut other: OperationDoc) {
    let schemas = other.take_schemas();
    op.merge_schemas(schemas);
    for (status, response) in other.operation.responses.responses {
        op.operation.responses.responses.entry(status).or_insert(response);
    }
}
