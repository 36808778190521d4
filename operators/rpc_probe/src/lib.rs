//! A source operator that calls `config.method` on its job's RPC endpoint and
//! emits the reply as the event cursor. The endpoint and its credentials stay
//! in the host; this code only ever sees the reply.

use trace_guest::prelude::*;

struct RpcProbe;

impl Operator for RpcProbe {
    fn run(ctx: &TaskContext, _event: &InputEvent) -> Result<(), OperatorError> {
        let config = config::parse(ctx)?;
        let method = config::str_field(&config, "method").unwrap_or("eth_blockNumber");
        let reply = rpc::call(method, "[]")?;
        events::emit(Event { output: 0, partition_key: "head".into(), range: None, cursor: Some(reply) })
    }
}

trace_guest::export_operator!(RpcProbe);
