//! [`OperationDoc`] and the traits that fill it from a handler's types.

use std::collections::BTreeMap;

use utoipa::openapi::content::Content;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Deprecated, Ref, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

/// One operation (a verb on a path) being documented: what the route's extractors
/// and return type contribute, then the overrides written in the router.
#[derive(Clone)]
pub struct OperationDoc {
    /// The operation as it will appear in the spec.
    pub operation: Operation,
    path_params: Vec<&'static str>,
    schemas: BTreeMap<String, RefOr<Schema>>,
}

impl OperationDoc {
    /// A new operation for a route whose path has these parameters (in order). Every
    /// path parameter starts documented as a required string; a `Path<T>` extractor
    /// refines the types.
    pub fn new(path_params: &[&'static str]) -> OperationDoc {
        let mut doc = OperationDoc { operation: Operation::new(), path_params: path_params.to_vec(), schemas: BTreeMap::new() };
        for name in path_params {
            doc.set_path_param(name, String::schema());
        }
        doc
    }

    /// The names of the route's path parameters, in order.
    pub fn path_param_names(&self) -> &[&'static str] {
        &self.path_params
    }

    /// Sets (or replaces) the schema of a path parameter.
    pub fn set_path_param(&mut self, name: &str, schema: RefOr<Schema>) {
        let param = Parameter::builder()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(schema))
            .build();
        self.put_param(param);
    }

    /// Adds a parameter (query, header, cookie, or path), replacing one with the same
    /// name and location.
    pub fn put_param(&mut self, param: Parameter) {
        let params = self.operation.parameters.get_or_insert_with(Vec::new);
        params.retain(|p| match p {
            RefOr::T(p) => !(p.name == param.name && p.parameter_in == param.parameter_in),
            RefOr::Ref(_) => true,
        });
        params.push(RefOr::T(param));
    }

    /// Registers `T` and the schemas it refers to as components, and returns a
    /// `$ref` to it.
    pub fn schema_ref<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        for (n, s) in nested {
            self.schemas.entry(n).or_insert(s);
        }
        self.schemas.entry(name.clone()).or_insert_with(T::schema);
        RefOr::Ref(Ref::from_schema_name(name))
    }

    /// The request body: a required body of `content_type` with `schema`.
    pub fn set_request_body(&mut self, content_type: &str, schema: RefOr<Schema>) {
        let body = RequestBody::builder()
            .content(content_type, Content::new(Some(schema)))
            .required(Some(Required::True))
            .build();
        self.operation.request_body = Some(RefOr::T(body));
    }

    /// The request body: an optional body of `content_type` with `schema`, or any
    /// bytes when `schema` is `None` (extractors that accept an empty body).
    pub fn set_optional_request_body(&mut self, content_type: &str, schema: Option<RefOr<Schema>>) {
        let body = RequestBody::builder()
            .content(content_type, Content::new(schema))
            .required(Some(Required::False))
            .build();
        self.operation.request_body = Some(RefOr::T(body));
    }

    /// Adds a response for `status` (`"200"`, `"404"`, `"default"`). When the status
    /// already has a response, the content types are merged and the first
    /// description kept.
    pub fn add_response(&mut self, status: &str, description: &str, content: Option<(&str, RefOr<Schema>)>) {
        let responses = &mut self.operation.responses.responses;
        let entry = responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(Response::new(description)));
        if let (RefOr::T(response), Some((content_type, schema))) = (entry, content) {
            response.content.entry(content_type.to_owned()).or_insert_with(|| RefOr::T(Content::new(Some(schema))));
        }
    }

    /// Adds a response for `status` whose body is any bytes of `content_type`.
    pub fn add_response_any(&mut self, status: &str, description: &str, content_type: &str) {
        let responses = &mut self.operation.responses.responses;
        let entry = responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(Response::new(description)));
        if let RefOr::T(response) = entry {
            response
                .content
                .entry(content_type.to_owned())
                .or_insert_with(|| RefOr::T(Content::new(None::<RefOr<Schema>>)));
        }
    }

    /// A plain-text error response, as every zzz rejection sends.
    pub fn add_text_error(&mut self, status: u16, description: &str) {
        self.add_response(&status.to_string(), description, Some(("text/plain", String::schema())));
    }

    /// Moves the `200` response (if any) to `status`: used by `(StatusCode, T)` whose
    /// status is only known at run time (`"default"`).
    pub fn move_ok_to(&mut self, status: &str) {
        let responses = &mut self.operation.responses.responses;
        if let Some(ok) = responses.remove("200") {
            responses.entry(status.to_owned()).or_insert(ok);
        }
    }

    /// Sets the summary.
    pub fn summary(&mut self, summary: &str) {
        self.operation.summary = Some(summary.to_owned());
    }

    /// Sets the description.
    pub fn description(&mut self, description: &str) {
        self.operation.description = Some(description.to_owned());
    }

    /// Sets the operation id.
    pub fn operation_id(&mut self, id: &str) {
        self.operation.operation_id = Some(id.to_owned());
    }

    /// Adds a tag.
    pub fn tag(&mut self, tag: &str) {
        let tags = self.operation.tags.get_or_insert_with(Vec::new);
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }

    /// Marks the operation deprecated.
    pub fn deprecated(&mut self) {
        self.operation.deprecated = Some(Deprecated::True);
    }

    /// Requires one of the named security schemes (declared in the [`ApiConfig`](super::ApiConfig)),
    /// and documents the 401 that zzz's auth plugs answer when the credentials are
    /// missing or invalid.
    pub fn security(&mut self, scheme: &str) {
        let requirement = utoipa::openapi::security::SecurityRequirement::new::<_, [&str; 0], &str>(scheme, []);
        self.operation.security.get_or_insert_with(Vec::new).push(requirement);
        self.add_text_error(401, "Missing or invalid credentials (the WWW-Authenticate header says which scheme)");
    }

    pub(crate) fn take_schemas(&mut self) -> BTreeMap<String, RefOr<Schema>> {
        std::mem::take(&mut self.schemas)
    }

    pub(crate) fn merge_schemas(&mut self, other: BTreeMap<String, RefOr<Schema>>) {
        for (name, schema) in other {
            self.schemas.entry(name).or_insert(schema);
        }
    }
}

/// What an extractor adds to the documentation of the operations that use it:
/// parameters, a request body, the error responses its rejection produces.
///
/// Implemented for zzz's extractors. For an extractor of your own, an empty impl
/// documents nothing: `impl zzz::openapi::OperationInput for ApiKey {}`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say how it is documented in OpenAPI",
    note = "routers with `openapi` document every route from its handler's types: implement `zzz::openapi::OperationInput` for this extractor (an empty impl documents nothing), or mark the route `doc(hidden)`"
)]
pub trait OperationInput {
    /// Adds what this extractor reads and how it can fail.
    fn document(op: &mut OperationDoc) {
        let _ = op;
    }
}

/// What a handler's return type adds to the documentation: its responses.
///
/// Implemented for zzz's response types. For an error type of your own, describe
/// the responses it produces:
///
/// ```
/// use zzz::openapi::{OperationDoc, OperationOutput};
///
/// enum AppError { NotFound }
///
/// impl OperationOutput for AppError {
///     fn document(op: &mut OperationDoc) {
///         op.add_text_error(404, "No such record");
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say how it is documented in OpenAPI",
    note = "routers with `openapi` document every route from its handler's types: implement `zzz::openapi::OperationOutput` for this return type, or mark the route `doc(hidden)`"
)]
pub trait OperationOutput {
    /// Adds the responses of this type.
    fn document(op: &mut OperationDoc) {
        let _ = op;
    }
}

/// The types of `Path<T>`'s parameters, for the documentation.
///
/// Implemented for single values (`Path<u64>`), tuples (`Path<(u64, String)>`, by
/// position). For a struct, `impl PathParamsDoc for MyParams {}` keeps every
/// parameter a string, or implement [`document`](PathParamsDoc::document) to give types.
pub trait PathParamsDoc {
    /// Sets the schemas of the path parameters.
    fn document(op: &mut OperationDoc) {
        let _ = op;
    }
}

/// A handler whose extractors and return type can all be documented. Implemented
/// for every async fn whose arguments implement [`OperationInput`] and whose output
/// implements [`OperationOutput`].
#[diagnostic::on_unimplemented(
    message = "the handler `{Self}` cannot be documented in OpenAPI",
    note = "every argument must implement `zzz::openapi::OperationInput` and the return type `zzz::openapi::OperationOutput`; or mark the route `doc(hidden)`"
)]
pub trait HandlerDoc<Args> {
    /// Documents the handler's inputs and outputs into `op`.
    fn document(op: &mut OperationDoc);
}

macro_rules! impl_handler_doc {
    ($($ty:ident),*) => {
        impl<F, Fut, $($ty,)*> HandlerDoc<($($ty,)*)> for F
        where
            F: FnOnce($($ty),*) -> Fut,
            Fut: std::future::Future,
            Fut::Output: OperationOutput,
            $($ty: OperationInput,)*
        {
            fn document(op: &mut OperationDoc) {
                $($ty::document(op);)*
                <Fut::Output as OperationOutput>::document(op);
            }
        }
    };
}

impl_handler_doc!();
impl_handler_doc!(T1);
impl_handler_doc!(T1, T2);
impl_handler_doc!(T1, T2, T3);
impl_handler_doc!(T1, T2, T3, T4);
impl_handler_doc!(T1, T2, T3, T4, T5);
impl_handler_doc!(T1, T2, T3, T4, T5, T6);
impl_handler_doc!(T1, T2, T3, T4, T5, T6, T7);
impl_handler_doc!(T1, T2, T3, T4, T5, T6, T7, T8);
impl_handler_doc!(T1, T2, T3, T4, T5, T6, T7, T8, T9);
impl_handler_doc!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10);
impl_handler_doc!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11);
impl_handler_doc!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12);

/// Documents a handler value (used by the router macro, where the handler's type
/// cannot be named).
pub fn document_handler<H: HandlerDoc<A>, A>(_handler: &H, op: &mut OperationDoc) {
    H::document(op);
}
