"""What an import submits: which developer belongs to which organization, the steps of each developer in three
phases (services, mashups, invalidations) from what is already on chain, and what the mashups will cost.

    phases = plan(services, chain, summary)  # [{developer: [Step, ...]}, {...}, {...}]
    costs = mashup_costs(ecosystem, phases)

Order (what the lifecycle allows): register and publish every service, then create and publish the mashups
(every component is available then), then invalidate what is dead. A rerun plans only what is missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tdses.chaincode import Fn, ServiceStatus
from tdses.ecosystem.programmableweb import Ecosystem, Service
from tdses.ecosystem.progress import Summary
from tdses.fabric.topology import Org

CREATED, AVAILABLE, INVALID = ServiceStatus


@dataclass
class Step:
    action: str  # RegisterService, CreateMashup, PublishService, InvalidateService
    service: Service


def developer_orgs(developers: list[str], orgs: list[Org]) -> dict[str, Org]:
    """Developers dealt round-robin over the organizations: the same on every run of one topology."""
    return {name: orgs[i % len(orgs)] for i, name in enumerate(developers)}


def plan(services: list[Service], chain: dict[str, dict], summary: Summary) -> list[dict[str, list[Step]]]:
    """Three phases of steps per developer, from what is on chain (service name → its record); counts what is
    already done into the summary."""
    phases: list[dict[str, list[Step]]] = [{}, {}, {}]
    s = summary

    def add(phase: int, action: str, service: Service) -> None:
        phases[phase].setdefault(service.developer, []).append(Step(action, service))

    composed = [m for m in services if m.composed]
    to_create = [m for m in composed if m.name not in chain]
    needed = {c for m in to_create for c in m.components}
    republished: set[str] = set()
    for svc in services:
        kind = "mashups" if svc.composed else "services"
        s.selected[kind] += 1
        s.selected["published"] += 1
        if not svc.alive:
            s.selected["invalidated"] += 1
        on_chain = chain.get(svc.name)
        phase = 1 if svc.composed else 0
        if on_chain is None:
            add(phase, Fn.CREATE_MASHUP if svc.composed else Fn.REGISTER_SERVICE, svc)
            add(phase, Fn.PUBLISH_SERVICE, svc)
            continue
        s.tally[(kind, "already")] += 1
        status = on_chain["status"]
        if status == CREATED:
            add(phase, Fn.PUBLISH_SERVICE, svc)
        elif status == INVALID and (svc.alive or svc.name in needed):
            add(phase, Fn.PUBLISH_SERVICE, svc)
            republished.add(svc.name)
        else:
            s.tally[("published", "already")] += 1
    for svc in services:
        if svc.alive:
            continue
        on_chain = chain.get(svc.name)
        if on_chain is None or on_chain["status"] != INVALID or svc.name in republished:
            add(2, Fn.INVALIDATE_SERVICE, svc)
        else:
            s.tally[("invalidated", "already")] += 1
    again = sum(1 for svc in services if svc.name in republished and not svc.alive)
    if again:
        s.notes["dead APIs published again for new mashups, invalidated again after"] += again
    return phases


def mashup_costs(ecosystem: Ecosystem, phases: list[dict[str, list[Step]]]) -> dict[str, int]:
    """What each developer will pay for the mashups it still has to create (others' components only)."""
    apis = {a.name: a for a in ecosystem.apis}
    costs: Counter = Counter()
    for dev, steps in phases[1].items():
        for step in steps:
            if step.action == Fn.CREATE_MASHUP:
                costs[dev] += sum(apis[c].price for c in step.service.components if apis[c].developer != dev)
    return costs
