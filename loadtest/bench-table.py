#!/usr/bin/env python3
"""Prints the criterion results of benches/{parse,route,event,integration}.rs as Markdown tables:
the median of each case (criterion's `median` estimate; the benches measure thread CPU time, see
benches/common/mod.rs), from target/criterion (or $CARGO_TARGET_DIR/criterion).

    cargo bench --bench parse --bench route --bench event --bench integration
    python3 loadtest/bench-table.py            # or: python3 loadtest/bench-table.py path/to/criterion
"""

import json
import os
import sys


def load(root):
    results = {}
    for directory, _, files in os.walk(root):
        if "benchmark.json" not in files or os.path.basename(directory) != "new":
            continue
        with open(os.path.join(directory, "benchmark.json")) as file:
            benchmark = json.load(file)
        with open(os.path.join(directory, "estimates.json")) as file:
            estimates = json.load(file)
        results[benchmark["full_id"]] = {
            "median": estimates["median"]["point_estimate"],
            "throughput": benchmark.get("throughput"),
        }
    return results


def fmt_time(ns):
    if ns is None:
        return "-"
    if ns < 1_000:
        return f"{ns:.1f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns / 1_000_000:.2f} ms"


def fmt_rate(result):
    throughput = result.get("throughput") or {}
    if "Bytes" in throughput:
        per_second = throughput["Bytes"] / (result["median"] / 1e9)
        return f"{per_second / 2**30:.2f} GiB/s" if per_second >= 2**30 else f"{per_second / 2**20:.0f} MiB/s"
    if "Elements" in throughput:
        per_second = throughput["Elements"] / (result["median"] / 1e9)
        return f"{per_second / 1e6:.1f} M/s"
    return "-"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "-"


def main():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "criterion")
    results = load(root)
    if not results:
        sys.exit(f"no criterion results under {root}: run cargo bench first")
    get = lambda key: results.get(key, {}).get("median")

    print("### Request parsing (`benches/parse.rs`)\n")
    print("| case | median | throughput |")
    print("|---|---:|---:|")
    order = ["small_get", "browser_get_15_headers", "post_json_1k_head", "get_100_headers"]
    keys = [f"parse_request/{case}" for case in order] + sorted(k for k in results if k.startswith("chunked_decode_1k/"))
    keys += [f"httparse_100_headers_array/{kind}/{case}" for case in order[:2] for kind in ("zeroed", "uninit")]
    for key in keys:
        if key in results:
            print(f"| `{key}` | {fmt_time(results[key]['median'])} | {fmt_rate(results[key])} |")

    print("\n### Route table (`benches/route.rs`)\n")
    sizes = ["10", "1000", "10000"]
    print("Build (all APIs; matchit: the 6 of every 8 it can express):\n")
    print("| APIs | scfgate `RouteTable::build` | matchit 0.9 `Router::insert` × n (subset) |")
    print("|---:|---:|---:|")
    for size in sizes:
        print(f"| {size} | {fmt_time(get(f'route_build/scfgate/{size}'))} | {fmt_time(get(f'route_build/matchit_subset/{size}'))} |")
    cases = ["hit_exact", "hit_param_1", "hit_param_2", "hit_priority_prefix", "hit_prefix", "miss_405", "miss_near", "miss_far"]
    print("\nLookup, median per request. `full`: scfgate over every API; `subset`: scfgate over only what")
    print("matchit can express; `matchit`: matchit over that subset (path only, no method check).\n")
    header = "| request | " + " | ".join(f"{size}: full | {size}: subset | {size}: matchit" for size in sizes) + " |"
    print(header)
    print("|---|" + "---:|" * (3 * len(sizes)))
    for case in cases:
        cells = []
        for size in sizes:
            cells.append(fmt_time(get(f"route_lookup_{size}/scfgate/{case}")))
            cells.append(fmt_time(get(f"route_lookup_{size}/scfgate_subset/{case}")))
            cells.append(fmt_time(get(f"route_lookup_{size}/matchit_subset/{case}")))
        print(f"| {case} | " + " | ".join(cells) + " |")

    print("\n### SCF event (`benches/event.rs`)\n")
    print("| request | `write_event` | serde_json from owned structs | serde / write_event |")
    print("|---|---:|---:|---:|")
    for case in ["small_get", "browser_get_15_headers", "post_json_1k", "get_100_headers"]:
        ours, theirs = get(f"event/write_event/{case}"), get(f"event/serde_json_struct/{case}")
        if ours is None:
            continue
        print(f"| {case} | {fmt_time(ours)} | {fmt_time(theirs)} | {ratio(theirs, ours)} |")

    print("\n### Function reply to HTTP response (`benches/integration.rs`)\n")
    print("| reply | `write_integrated` | `write_passthrough` |")
    print("|---|---:|---:|")
    for case in ["small_json", "html_4k", "base64_3k_binary"]:
        print(f"| {case} | {fmt_time(get(f'integration/write_integrated/{case}'))} | {fmt_time(get(f'integration/write_passthrough/{case}'))} |")


if __name__ == "__main__":
    main()
