// Tries to reach the network; the host must refuse the component at load.
import tcp from "wasi:sockets/tcp@0.3.0";
import http from "wasi:http/outgoing-handler@0.3.0";
import { operator } from "./trace_sdk.js";

export const run = operator(() => {
  tcp.connect("169.254.169.254", 80);
  http.handle("http://169.254.169.254/");
});
