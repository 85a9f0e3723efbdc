#!/usr/bin/python3
"""policy_priors.py - set the acceptance priors of a policy file from `aio bench strategies`.

    aio bench strategies --out DIR && tools/policy_priors.py DIR/strategies.json models/policy.json

For each category and each of lookup and spec, the k = K row (default 7) gives the acceptance
at every draft position given the ones before were accepted; the prior is P(the first i drafts
accepted), i = 1..3: their running products. Only "priors" is rewritten; the rest of the
policy is kept as it is.
"""
import argparse
import json


def priors_from(rows, k):
    out = {}
    for r in rows:
        if r["strategy"] not in ("lookup", "spec") or r["k"] != k:
            continue
        p, cum = 1.0, []
        for a in r["acceptance_at"][:3]:
            p *= a if a is not None else 0.0
            cum.append(round(p, 3))
        out.setdefault(r["category"], {})[r["strategy"]] = cum
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("strategies_json")
    ap.add_argument("policy_json")
    ap.add_argument("--k", type=int, default=7)
    a = ap.parse_args()
    bench = json.load(open(a.strategies_json))
    policy = json.load(open(a.policy_json))
    policy["priors"] = priors_from(bench["rows"], a.k)
    with open(a.policy_json, "w") as f:
        json.dump(policy, f, indent=2)
        f.write("\n")
    print(json.dumps(policy["priors"]))


if __name__ == "__main__":
    main()
