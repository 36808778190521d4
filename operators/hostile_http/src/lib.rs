//! A hostile operator that imports `wasi:http/outgoing-handler`, as one that
//! bundled an HTTP client would. Trace must refuse it at load.

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "trace:hostile-http/http-operator",
        generate_all,
    });
}

struct Http;

impl bindings::Guest for Http {
    fn run(
        _ctx: bindings::trace::operator::types::TaskContext,
        _event: bindings::trace::operator::types::InputEvent,
    ) -> Result<(), bindings::trace::operator::types::OperatorError> {
        let got = bindings::wasi::http::outgoing_handler::handle("http://169.254.169.254/");
        Err(bindings::trace::operator::types::OperatorError::Fatal(format!("{got:?}")))
    }
}

bindings::export!(Http with_types_in bindings);
