"""Two "nodes" on localhost, joined by torchrun's c10d rendezvous, train exactly what one node
with two processes trains."""

from __future__ import annotations

import socket
import threading

from harness.launch.runner import Launch, run_cell
from tests.conftest import tiny_cell


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_equal_one_node_with_two_processes(tmp_path, shared_cells):
    """Lightning's cell: the rendezvous, the node ranks and a record per node are the
    launch's, whatever the paradigm; Lightning adds its own reading of the cluster (its
    torchelastic environment), which the plain loop does not have. The one-node cell is
    test_distributed_and_amp's DDP cell: the session runs it once."""
    cell = tiny_cell("cnn", "lightning", world_size=2, batch_size=8)
    single = shared_cells.run(cell)
    assert single["status"] == "ok", single.get("message")

    multi = cell.replace(nnodes=2)
    endpoint = f"127.0.0.1:{_free_port()}"
    records: dict[int, dict] = {}

    def node(rank: int) -> None:
        records[rank] = run_cell(multi, tmp_path / f"node{rank}", 0, {},
                                 Launch(node_rank=rank, rdzv_endpoint=endpoint))

    threads = [threading.Thread(target=node, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    for node_rank in (0, 1):
        assert records[node_rank]["status"] == "ok", records[node_rank].get("log_tail")
    # c10d's rendezvous hands out global ranks in arrival order, not by --node-rank
    hosts = {records[n]["measurements"]["ranks_here"][0]: n for n in (0, 1)}
    assert sorted(hosts) == [0, 1]
    node0, one = records[hosts[0]]["measurements"], single["measurements"]
    assert node0["weights_sha256"] == one["weights_sha256"]
    assert node0["losses"] == one["losses"]
    assert node0["items_per_step"] == one["items_per_step"] == 16
