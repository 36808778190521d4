#!/usr/bin/env python3
"""Make a small chain for the examples on a local node (anvil).

Deploys the test ERC-20 (tests/contracts/TestToken.sol, from its committed
bytecode) from the node's first funded account, makes --transfers transfers
of it to four other accounts, mines --blocks empty blocks after them, and
prints what it did as JSON: the token's address, each transfer as
[block, to, amount], and the head. Standard library only.
"""

import argparse
import json
import pathlib
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BYTECODE = (ROOT / "tests" / "contracts" / "TestToken.bin").read_text().strip()


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        reply = json.load(answer)
    if "error" in reply:
        raise SystemExit(f"{method}: {reply['error']}")
    return reply["result"]


def send(url, tx):
    tx_hash = rpc(url, "eth_sendTransaction", [tx])
    for _ in range(1000):
        receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt:
            if receipt["status"] != "0x1":
                raise SystemExit(f"transaction {tx_hash} failed")
            return receipt
        time.sleep(0.01)
    raise SystemExit(f"no receipt for {tx_hash}")


def word(n):
    return f"{n:064x}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc", default="http://127.0.0.1:8545", help="the node's JSON-RPC URL")
    parser.add_argument("--transfers", type=int, default=40, help="token transfers to make (one block each)")
    parser.add_argument("--blocks", type=int, default=100, help="empty blocks to mine after them")
    args = parser.parse_args()
    accounts = rpc(args.rpc, "eth_accounts", [])
    owner = accounts[0]
    deployed = send(args.rpc, {"from": owner, "data": "0x" + BYTECODE + word(10**27), "gas": "0x200000"})
    token = deployed["contractAddress"]
    transfers = []
    for i in range(args.transfers):
        to = accounts[1 + i % 4]
        amount = (i + 1) * 10**18 + i * 7919
        data = "0xa9059cbb" + to[2:].lower().rjust(64, "0") + word(amount)
        receipt = send(args.rpc, {"from": owner, "to": token, "data": data, "gas": "0x100000"})
        transfers.append([int(receipt["blockNumber"], 16), to.lower(), str(amount)])
    if args.blocks:
        rpc(args.rpc, "anvil_mine", [hex(args.blocks)])
    head = int(rpc(args.rpc, "eth_blockNumber", []), 16)
    print(f"the chain: token {token}, {len(transfers)} transfers, head {head}", file=sys.stderr)
    print(json.dumps({"token": token, "transfers": transfers, "head": head}))


if __name__ == "__main__":
    main()
