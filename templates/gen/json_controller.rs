//! `{{zzz:path}}`: the `{{zzz:schema}}` JSON API (index, show, create, update, delete), as
//! Phoenix's `phx.gen.json`. Create and update take `{"{{zzz:var}}": {…}}`; answers are
//! `{"data": …}`; invalid input is 422 `{"errors": {"field": ["message", …]}}` and an
//! unknown id 404.

use serde::{Deserialize, Serialize};
use zzz::{Json, Path, State, StatusCode};
use zzz_db::{Error, Query, Repo};

use crate::models::{{zzz:module}}::{{zzz:schema}};

/// A JSON answer: `{"data": …}`.
#[derive(Serialize)]
pub struct Data<T> {
    /// What was asked for.
    pub data: T,
}

/// The body of create and update: `{"{{zzz:var}}": {…}}`.
#[derive(Deserialize)]
pub struct Params {
    /// The fields to set.
    pub {{zzz:var}}: serde_json::Value,
}

/// `GET {{zzz:path}}`: every {{zzz:human}}, oldest first.
pub async fn index(State(repo): State<Repo>) -> Result<Json<Data<Vec<{{zzz:schema}}>>>, Error> {
    let all = repo.all(Query::from::<{{zzz:schema}}>().order_by({{zzz:schema}}::id.asc())).await?;
    Ok(Json(Data { data: all }))
}

/// `GET {{zzz:path}}/:id`: one {{zzz:human}}, 404 when there is none.
pub async fn show(State(repo): State<Repo>, Path(id): Path<i64>) -> Result<Json<Data<{{zzz:schema}}>>, Error> {
    Ok(Json(Data { data: repo.fetch::<{{zzz:schema}}>(id).await? }))
}

/// `POST {{zzz:path}}`: 201 with the new {{zzz:human}}, 422 with the changeset's errors.
pub async fn create(State(repo): State<Repo>, Json(params): Json<Params>) -> Result<(StatusCode, Json<Data<{{zzz:schema}}>>), Error> {
    let created = repo.insert({{zzz:schema}}::changeset({{zzz:schema}}::default(), &params.{{zzz:var}})).await?;
    Ok((StatusCode::CREATED, Json(Data { data: created })))
}

/// `PATCH`/`PUT {{zzz:path}}/:id`: the updated {{zzz:human}}, 422 with the changeset's errors.
pub async fn update(State(repo): State<Repo>, Path(id): Path<i64>, Json(params): Json<Params>) -> Result<Json<Data<{{zzz:schema}}>>, Error> {
    let current = repo.fetch::<{{zzz:schema}}>(id).await?;
    let updated = repo.update({{zzz:schema}}::changeset(current, &params.{{zzz:var}})).await?;
    Ok(Json(Data { data: updated }))
}

/// `DELETE {{zzz:path}}/:id`: 204.
pub async fn delete(State(repo): State<Repo>, Path(id): Path<i64>) -> Result<StatusCode, Error> {
    let current = repo.fetch::<{{zzz:schema}}>(id).await?;
    repo.delete(current).await?;
    Ok(StatusCode::NO_CONTENT)
}
