"""`tdses k8s …`: T-DSES on Kubernetes from the command line.

    tdses k8s init                                   credentials and channel artifacts, once
    tdses k8s render --out DIR [TARGET…]             the kustomize tree, for `kustomize build DIR/overlays/<o>`
    tdses k8s deploy TARGET --variant kafka|raft     render → validate → apply → wait → prune (or --dry-run: the plan)
    tdses k8s access TARGET --variant kafka|raft     the RBAC a cluster administrator grants a deployer
    tdses k8s cluster install|up|down|status         a local control plane with fake nodes, to rehearse on
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from tdses.fabric import toolchain
from tdses.fabric.state import State
from tdses.fabric.topology import Topology, load
from tdses.k8s import access, controlplane, credentials, deploy, prune, render
from tdses.k8s.cluster import Cluster
from tdses.k8s.placement import Kubernetes
from tdses.paths import REPO_ROOT

DEFAULT_STATE_DIR = Path(os.environ.get("TDSES_K8S_STATE_DIR", REPO_ROOT / ".state" / "k8s"))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    k8s = sub.add_parser("k8s", help="deploy T-DSES on Kubernetes (kustomize overlays rendered from network-config/)")
    k8s.set_defaults(handler=run)
    k8s_sub = k8s.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                       help=f"credentials and channel artifacts (default {DEFAULT_STATE_DIR}, or $TDSES_K8S_STATE_DIR)")
        p.add_argument("--topology", default="default", help="a topology of network-config/topology or a file")
        return p

    common(k8s_sub.add_parser("init", help="make the MSP/TLS material, secrets and channel artifacts (once)"))

    rend = common(k8s_sub.add_parser("render", help="write the kustomize tree with the generated components"))
    rend.add_argument("--out", type=Path, required=True, help="directory to write (it will hold private keys)")
    rend.add_argument("--variant", choices=render.VARIANTS, default="raft", help="orderer consensus (default raft)")
    rend.add_argument("--registry", help="registry prefix of the tdses-chaincode and tdses-gateway images")
    rend.add_argument("targets", nargs="*", help="organizations and/or `orderer` (default: all)")

    dep = common(k8s_sub.add_parser("deploy", help="render, validate and apply one namespace, then wait for it"))
    dep.add_argument("target", help="an organization (org1, …) or `orderer`")
    dep.add_argument("--variant", choices=render.VARIANTS, required=True, help="orderer consensus")
    dep.add_argument("--dry-run", action="store_true", help="print the plan; touch no cluster")
    dep.add_argument("--out", type=Path, help="where to render (default <state-dir>/rendered)")
    dep.add_argument("--registry", help="registry prefix of the tdses-chaincode and tdses-gateway images")
    dep.add_argument("--server-dry-run", action="store_true",
                     help="have the API server validate and admit every object without persisting it; no wait")
    dep.add_argument("--context", help="kubeconfig context (default: the current one)")
    dep.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    dep.add_argument("--timeout", type=float, default=600, help="seconds to wait for readiness (default 600)")

    acc = common(k8s_sub.add_parser("access", help="print (or --apply) the Namespace and the RBAC that let a "
                                                   "service account deploy it"))
    acc.add_argument("target", help="an organization (org1, …) or `orderer`")
    acc.add_argument("--variant", choices=render.VARIANTS, required=True, help="orderer consensus")
    acc.add_argument("--account", default=access.ACCOUNT, help=f"service account name (default {access.ACCOUNT})")
    acc.add_argument("--out", type=Path, help="where to render (default <state-dir>/rendered)")
    acc.add_argument("--apply", action="store_true", help="apply them with the current kubeconfig (an admin's)")
    acc.add_argument("--context", help="kubeconfig context (default: the current one)")
    acc.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")

    clu = k8s_sub.add_parser("cluster", help="a local control plane with kwok's fake nodes, to rehearse a deploy")
    clu.add_argument("command", choices=("install", "up", "down", "status"),
                     help="install: build it (once per version); up: start it; down: stop it; status")
    clu.add_argument("--dir", type=Path, default=controlplane.DEFAULT_DIR,
                     help=f"its kubeconfig, logs and data (default {controlplane.DEFAULT_DIR})")
    clu.add_argument("--nodes", type=int, default=1, help="fake nodes to start with (default 1)")


def _topology(args: argparse.Namespace) -> Topology:
    return load(args.topology, placement=Kubernetes())


def run(args: argparse.Namespace) -> int:
    return {"init": _init, "render": _render, "deploy": _deploy, "access": _access,
            "cluster": _cluster}[args.action](args)


def _init(args: argparse.Namespace) -> int:
    topology = _topology(args)
    made = credentials.create(topology, State(args.state_dir), toolchain.install_all(out=sys.stderr))
    print(f"{'made' if made else 'already complete:'} credentials and channel artifacts in {args.state_dir}",
          file=sys.stderr)
    return 0


def _render(args: argparse.Namespace) -> int:
    topology = _topology(args)
    overlays = render.render(topology, State(args.state_dir), args.out, args.variant, args.targets or None,
                             args.registry)
    warning = render.registry_warning(topology, args.registry, args.targets or None)
    if warning:
        print(warning, file=sys.stderr)
    for name, path in overlays.items():
        print(f"{name}: kustomize build {path}")
    return 0


def _deploy(args: argparse.Namespace, cluster: Cluster | None = None) -> int:
    out = args.out or render.default_out(args.state_dir)
    plan = deploy.make_plan(_topology(args), State(args.state_dir), args.target, args.variant, out, args.registry)
    for warning in plan.warnings:
        print(warning, file=sys.stderr)
    if args.dry_run:
        print("\n".join(plan.lines()))
        return 0
    cluster = cluster or Cluster.connect(args.context, args.kubeconfig)
    warnings = deploy.apply(plan, cluster, out=sys.stderr, dry_run=args.server_dry_run)
    if warnings:
        print("the API server warned:", *warnings, sep="\n  ", file=sys.stderr)
    if args.server_dry_run:
        _prune(plan, cluster, dry_run=True)
        print(f"{plan.overlay}: the API server accepts all {len(plan.objects)} objects (dry run, nothing changed)")
        return 4 if warnings else 0
    started = time.monotonic()
    waiting = deploy.wait_ready(plan, cluster, args.timeout, out=sys.stderr)
    if waiting:
        print(f"not ready after {time.monotonic() - started:.0f}s:", *waiting, sep="\n  ", file=sys.stderr)
        print("nothing pruned: what an earlier deploy left is deleted once this one is ready", file=sys.stderr)
        return 3
    _prune(plan, cluster)
    print(f"{plan.overlay} is ready in namespace {plan.namespace}; next:", *plan.bootstrap, sep="\n  ")
    return 0


def _prune(plan: deploy.Plan, cluster: Cluster, dry_run: bool = False) -> None:
    pruned = prune.prune(plan, cluster, out=sys.stderr, dry_run=dry_run)
    if pruned.kept:
        print("kept, since they hold data (delete them once it is no longer needed):", *pruned.kept, sep="\n  ",
              file=sys.stderr)
    if pruned.refused:
        print(f"not pruned: the deployer may not list or delete these (a cluster administrator runs `tdses k8s "
              f"access {plan.target}` again to grant it):", *pruned.refused, sep="\n  ", file=sys.stderr)


def _access(args: argparse.Namespace, cluster: Cluster | None = None) -> int:
    out = args.out or render.default_out(args.state_dir)
    plan = deploy.make_plan(_topology(args), State(args.state_dir), args.target, args.variant, out)
    objects = access.objects(plan, args.account)
    if not args.apply:
        print(yaml.safe_dump_all(objects, sort_keys=False), end="")
        return 0
    cluster = cluster or Cluster.connect(args.context, args.kubeconfig)
    for obj in objects:
        cluster.apply(obj)
        print(f"applied {deploy.validate.name(obj)}", file=sys.stderr)
    print(f"service account {args.account} may now deploy {plan.namespace}: give its operator a token, e.g. "
          f"kubectl -n {plan.namespace} create token {args.account}", file=sys.stderr)
    return 0


def _cluster(args: argparse.Namespace) -> int:
    local = controlplane.LocalCluster(args.dir, nodes=args.nodes)
    if args.command == "install":
        found = controlplane.install(out=sys.stderr)
        print(f"local control plane {controlplane.kubernetes_release()}:", *map(str, found.values()), sep="\n  ")
    elif args.command == "up":
        controlplane.install(out=sys.stderr)
        local.up(out=sys.stdout)
    elif args.command == "down":
        local.down(out=sys.stdout)
    else:
        running = local.running()
        print(f"running: {', '.join(running) or 'nothing'}" + (f"; KUBECONFIG={local.kubeconfig}" if running else ""))
        return 0 if len(running) == len(controlplane.COMPONENTS) else 3
    return 0
