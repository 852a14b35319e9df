"""codetether's benchmark suite: ``python -m bench`` (or ``make bench``).

Benchmarks print figures, not pass/fail. Each module measures one thing and puts
the numbers it compares side by side in the same run; the runner prints a
compact table at the end and writes ``.bench/results.json``.

* ``cli_roundtrip``  — ``codetether daemon status`` vs ``python -c pass``; import-time offenders
* ``daemon_rss``     — idle daemon memory, and which heavy packages it has loaded
* ``rpc_latency``    — JSON-RPC round trip over the Unix socket, our client vs raw clients
* ``agent_loop``     — agent-loop overhead per model turn with a zero-latency model
* ``embedded_model`` — load time, time to first token, tokens/s; our wrapper vs llama_cpp
* ``embedded_cli``   — the embedded model through the CLI: cold first answer (daemon not running,
  model not loaded) and warm; the prompt size in tokens
* ``records``        — telemetry append as history grows to 1M vs a full rewrite per record;
  event-stream random access in a 1M-event stream vs a line scan
* ``report_rss``     — daemon memory across 10 telemetry reports (R2), vs drawing in-process
* ``lsp_code_action`` — code action latency on a 10,000-line file with an agent edit pending
* ``neovim_approval`` — approval round trip in real Neovim, proposal to buffer change
* ``neovim_okr_gate`` — ``/go``'s OKR gate in real Neovim: notification to the decision recorded, p50/p99
* ``fuzz_rss``       — daemon memory under 20,000 fuzzed socket frames
* ``a2a_throughput`` — A2A SendMessage requests/s (JSON-RPC, gRPC; concurrency 1 and 64), ours vs
  a2a-sdk's own server with the same trivial agent and the same client
* ``a2a_rss``        — idle ``codetether serve`` memory with socket, HTTP and gRPC listening, and
  what each listener costs
* ``a2a_load``       — 1,000 concurrent A2A clients for 60 s: errors, memory growth
* ``agents``         — memory of 100 concurrent sub-agents; a swarm's own overhead for 10 subtasks
  in 2 stages with a zero-latency model (plain directory and git worktrees)
* ``bus_throughput`` — agent-bus deliveries/s, 1 publisher and 10 subscribers: in process, and over
  NATS on loopback beside a bare nats-py loop
* ``relay``          — the /autochat relay: checkpoint write p50/p99 (fsynced), and resume after kill -9
  (daemon restart to the first resumed turn)
* ``vscode_okr_gate`` — /go's OKR gate round trip in real VS Code (code-server): request to modal, decision to recorded
"""

BENCHES = ("cli_roundtrip", "daemon_rss", "rpc_latency", "agent_loop", "embedded_model", "embedded_cli",
           "records", "report_rss", "lsp_code_action", "neovim_approval", "neovim_okr_gate", "fuzz_rss",
           "a2a_throughput", "a2a_rss", "a2a_load", "agents", "bus_throughput", "relay", "vscode_okr_gate")

__all__ = ["BENCHES"]
