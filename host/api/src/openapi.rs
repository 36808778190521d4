//! The public API described as an OpenAPI 3.1 document, generated from the
//! handlers' own annotations (utoipa) and served at
//! `GET /api/v1/openapi.json` (no token needed: it holds no data). A test
//! checks that it and the router list the same routes.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trace public API",
        description = "Everything a user does to their org's DAGs, tasks, datasets, queries, secrets and alerts, with an API token (`Authorization: Bearer trc_…`). Errors are `application/problem+json` with a stable `code`. Another org's resources answer like missing ones."
    ),
    paths(
        crate::public::whoami,
        crate::public::deploy,
        crate::dag_routes::versions,
        crate::dag_routes::cutover,
        crate::dag_routes::rollback,
        crate::public::trigger,
        crate::dag_routes::backfill,
        crate::public::tasks,
        crate::public::task,
        crate::public::cancel,
        crate::public::usage,
        crate::quota_routes::quota,
        crate::public::datasets,
        crate::public::partitions,
        crate::dataset_routes::versions,
        crate::dataset_routes::purge,
        crate::public::read_roles,
        crate::public::create_user,
        crate::public::create_token,
        crate::query_routes::query,
        crate::query_routes::submit,
        crate::query_routes::batch,
        crate::query_routes::batch_result,
        crate::query_routes::tables,
        crate::secret_routes::list,
        crate::secret_routes::set,
        crate::secret_routes::delete,
        crate::alert_routes::destinations,
        crate::alert_routes::set_destination,
        crate::alert_routes::delete_destination,
        crate::alert_routes::deliveries,
        crate::alert_routes::delivery,
        crate::alert_routes::retry_delivery,
    ),
    components(schemas(crate::Problem)),
    modifiers(&Bearer),
    tags(
        (name = "identity", description = "who a token is; users and tokens"),
        (name = "dags", description = "DAG versions: deploy, stage, cut over, roll back, trigger, backfill"),
        (name = "tasks", description = "tasks and their attempts"),
        (name = "datasets", description = "datasets, their versions and partitions, who may read them"),
        (name = "queries", description = "SQL over datasets: interactive and batch"),
        (name = "usage", description = "what the org used, and its quota"),
        (name = "secrets", description = "org secrets (write-only)"),
        (name = "alerts", description = "webhook destinations and alert deliveries"),
    )
)]
struct PublicApi;

/// Every operation takes an API token as a bearer credential.
struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("trc_… (an API token)").build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    PublicApi::openapi()
}

pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(document).clone())
}
