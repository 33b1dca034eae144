"""The KRaft controller and broker faults: liveness, fencing, leader election, ISR expiry.

``Controller`` is what Kafka's active controller (``QuorumController`` /
``ReplicationControlManager``) decides, plus the faults ``sim.faults`` can inflict on brokers
and on the links between brokers and clients (``KafkaCluster.apply_fault`` hands them here).

Kafka behaviour reproduced (``shared/reference/kafka.md`` §3):

- Liveness: a broker heartbeats to the controller every ``broker.heartbeat.interval.ms``; the
  controller *fences* it once it has not heard from it for ``broker.session.timeout.ms``
  (9 s, the KRaft default — chosen because it is exactly what decides how long a crashed
  leader's partitions stay unavailable in Kafka 4.x; the heartbeat phase is not modelled, so
  a crash is noticed ``broker.session.timeout.ms`` after it happens). A broker that restarts
  before that registers a new incarnation, which fences the old one at once.
- On fencing the controller drops the broker from every ISR it is in (unless it is the last
  member: KRaft keeps the last ISR member so the partition can come back cleanly) and elects a
  new leader for each partition it led: the first replica, in assignment order, that is in
  the ISR and alive (``PartitionChangeBuilder``). With none, and
  ``unclean.leader.election.enable=true`` for the topic, the first live replica out of the ISR
  is elected (unclean: the ISR becomes that replica alone and committed records it lacked are
  lost); otherwise the partition is offline (leader -1) until an ISR member returns. The
  leader epoch increments and every replica truncates to the new leader's log end.
- A restarted broker comes back with its log as it was (a process crash: the page cache
  survives, nothing is lost locally), is unfenced, follows the current leaders (it has
  already been truncated to them, see ``models.kafka.replication``), rejoins the ISR once it
  has caught up to the HW, and leads the offline partitions it can lead.
- ISR expiry (``isr-expiration`` task): every ``replica.lag.time.max.ms / 2`` each running
  leader drops the followers that have not caught up for ``replica.lag.time.max.ms``.
- Faults: ``crash`` (the broker process dies: connections reset, so clients see their
  in-flight requests fail at once and retry; its partitions' leadership moves once it is
  fenced), ``restart``, ``pause`` (a GC pause or a stalled disk: the broker answers nothing for
  ``duration`` seconds, then carries on; fenced meanwhile if the pause outlasts the session
  timeout), and the link faults ``cut``/``heal``/``latency``/``loss`` between two brokers or
  between a client and a broker (``models.kafka.network``).
- The group coordinator of a group lives on a broker; when that broker is fenced the
  coordinator moves (``models.kafka.group``).
- Regimes (``models.kafka.replication``): the first fault switches the cluster from the steady
  regime, where replication's outcome is computed, to simulated fetch rounds
  (``replicate``); when no fault is left and every replica has caught up it switches back
  (``maybe_steady``). Listeners in ``cluster.regime_listeners`` hear of the first switch
  before anything moves (the producer arms request timeouts for answers that may now never
  come).

Not modelled: the controller quorum itself (it never fails and reaches every running broker;
a broker cut off from everyone else stays registered), the ``AlterPartition`` and metadata
propagation delays (decisions take effect at once everywhere), controlled shutdown, the
unclean-election thread's ``unclean.leader.election.interval.ms`` (an unclean election happens
as soon as it is needed, as when the topic had the setting from the start), disk loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.kafka.errors import NetworkError
from models.kafka.network import broker_name
from models.kafka.replication import ReplicaFetcher
from sim.faults import Fault

if TYPE_CHECKING:
    from models.kafka.cluster import KafkaCluster, Partition

INF = float("inf")


class Controller:
    """Broker liveness, elections and the replica fetchers of a ``KafkaCluster``."""

    def __init__(self, cluster: KafkaCluster) -> None:
        self.cluster = cluster
        self.env = cluster.env
        config = cluster.config
        self.session_timeout = config["broker.session.timeout.ms"] / 1000.0
        self.lag_max = config["replica.lag.time.max.ms"] / 1000.0
        self.fetchers: dict[tuple[int, int], ReplicaFetcher] = {}
        self.elections = 0
        self.unclean_elections = 0
        self._expiry_started = False
        self._steady_checked = -1.0

    # ---- regimes ---------------------------------------------------------------------------
    def replicate(self) -> None:
        """Leave the steady regime (a fault is about to happen): set every follower's state as
        the steady rule has it now and start the fetchers at the leaders."""
        cluster = self.cluster
        if cluster.replicating:
            return
        for listener in list(cluster.regime_listeners):
            listener()  # e.g. a planned fast path hands over to events before anything moves
        cluster.replicating = True
        now = float(self.env.now)
        for part in cluster.all_partitions():
            part._enter_replicating(now)
        for fx in self.fetchers.values():
            if fx.parts:
                fx.resume_at_leader()
        cluster.trace.event(now, "replicating", "controller")

    def quiet(self) -> bool:
        """No fault in place: every broker up, running and unfenced, no link fault."""
        cluster = self.cluster
        return (cluster.all_ready and not cluster.net.faulty
                and not any(b.fenced for b in cluster.brokers))

    def maybe_steady(self, force: bool = False) -> None:
        """Back to the steady regime once no fault is in place and every replica has caught
        up (checked when a fault ends, and at most every 10 ms after fetch rounds)."""
        cluster = self.cluster
        now = float(self.env.now)
        if not cluster.replicating or not self.quiet() or (
                not force and now < self._steady_checked + 0.01):
            return
        self._steady_checked = now
        if all(p.in_sync() for p in cluster.all_partitions()):
            cluster.replicating = False
            cluster.trace.event(now, "steady", "controller")
            for listener in list(cluster.steady_listeners):
                listener()

    def _update_ready(self) -> None:
        """Recompute ``cluster.all_ready`` (the fast path of the liveness questions)."""
        now = float(self.env.now)
        self.cluster.all_ready = all(b.up and b.paused_until <= now
                                     for b in self.cluster.brokers)

    # ---- fetchers --------------------------------------------------------------------------
    def fetcher(self, follower: int, leader: int, at_leader: bool = False) -> ReplicaFetcher:
        """The fetcher of ``follower`` from ``leader`` (created on first use)."""
        found = self.fetchers.get((follower, leader))
        if found is None:
            found = self.fetchers[(follower, leader)] = ReplicaFetcher(
                self.cluster, follower, leader, at_leader)
        return found

    def follow(self, part: Partition, at_leader: bool = False) -> None:
        """Point every follower of ``part`` at its current leader."""
        leader = part.leader
        for b in part.replicas:
            for (f, l_), fx in self.fetchers.items():
                if f == b and l_ != leader and part in fx.parts:
                    fx.remove(part)
            if leader >= 0 and b != leader:
                self.fetcher(b, leader, at_leader).add(part)
        if len(part.replicas) > 1:
            self._start_isr_expiry()

    def _start_isr_expiry(self) -> None:
        if not self._expiry_started:
            self._expiry_started = True
            self.env.process(self._isr_expiration())

    def _isr_expiration(self):
        period = max(self.lag_max / 2.0, 0.001)
        cluster = self.cluster
        while True:
            yield self.env.timeout(period)
            if not cluster.replicating:
                continue  # steady: every follower is caught up
            now = float(self.env.now)
            for part in cluster.all_partitions():
                if part.leader >= 0 and len(part.isr) > 1 and cluster.broker_ready(part.leader):
                    part._shrink_isr(now, self.lag_max)

    # ---- elections -------------------------------------------------------------------------
    def elect(self, part: Partition) -> None:
        """Choose ``part``'s leader among its live replicas (see the module docstring)."""
        cluster = self.cluster
        live = [b for b in part.replicas if cluster.broker_live(b)]
        chosen = [b for b in live if b in part.isr]
        unclean = False
        if not chosen and live and part.unclean_leader_election:
            chosen, unclean = live, True
        new = chosen[0] if chosen else -1
        if new == part.leader:
            return
        if new >= 0:
            self.elections += 1
            self.unclean_elections += unclean
        part._change_leader(new, unclean)
        self.follow(part)

    # ---- broker lifecycle ------------------------------------------------------------------
    def crash(self, broker: int) -> None:
        cluster = self.cluster
        b = cluster.brokers[broker]
        if not b.up:
            return
        self.replicate()
        now = float(self.env.now)
        b.up = False
        b.paused_until = 0.0
        self._update_ready()
        cluster.trace.event(now, "broker-crash", broker_name(broker))
        error = NetworkError(f"Connection to node {broker} was disconnected")
        for part in cluster.all_partitions():
            if part.leader == broker:
                part._fail_waiters(error)
        for (_f, leader), fx in self.fetchers.items():
            if leader == broker:
                fx.kick()
        for listener in list(cluster.broker_listeners):
            listener(broker)
        incarnation = b.incarnation
        cluster.sim.call_at(now + self.session_timeout, self._session_expired, broker,
                            incarnation)

    def _session_expired(self, broker: int, incarnation: int) -> None:
        b = self.cluster.brokers[broker]
        if b.incarnation == incarnation and not b.fenced and (
                not b.up or b.paused_until >= self.env.now):
            self.fence(broker)

    def fence(self, broker: int) -> None:
        """The controller stops counting on ``broker``: ISRs and leaderships move."""
        cluster = self.cluster
        b = cluster.brokers[broker]
        if b.fenced:
            return
        b.fenced = True
        now = float(self.env.now)
        cluster.trace.event(now, "broker-fenced", broker_name(broker))
        for part in cluster.all_partitions():
            if broker not in part.replicas:
                continue
            if broker in part.isr and len(part.isr) > 1:
                part.isr = [r for r in part.isr if r != broker]
                cluster.trace.event(now, "isr-shrink", part._name(), brokers=(broker,),
                                    isr=tuple(part.isr), reason="fenced")
            if part.leader == broker or part.leader < 0:
                self.elect(part)
            else:
                part._maybe_advance_hw()
        if cluster.coordinator is not None and hasattr(cluster.coordinator, "broker_fenced"):
            cluster.coordinator.broker_fenced(broker)

    def restart(self, broker: int) -> None:
        cluster = self.cluster
        b = cluster.brokers[broker]
        if b.up:
            return
        self.replicate()
        if not b.fenced:
            self.fence(broker)  # the new incarnation's registration fences the old one
        b.up = True
        b.incarnation += 1
        b.paused_until = 0.0
        self._update_ready()
        cluster.trace.event(float(self.env.now), "broker-restart", broker_name(broker))
        self._rejoin(broker)

    def _rejoin(self, broker: int) -> None:
        """Unfence ``broker``: it follows the leaders again and leads what it can."""
        cluster = self.cluster
        cluster.brokers[broker].fenced = False
        cluster.trace.event(float(self.env.now), "broker-unfenced", broker_name(broker))
        for part in cluster.all_partitions():
            if broker not in part.replicas:
                continue
            if part.leader < 0:
                self.elect(part)
            else:
                self.follow(part)
        for (follower, _leader), fx in self.fetchers.items():
            if follower == broker:
                fx.kick()
        if cluster.coordinator is not None and hasattr(cluster.coordinator, "broker_back"):
            cluster.coordinator.broker_back(broker)
        self.maybe_steady(force=True)

    def pause(self, broker: int, duration: float) -> None:
        cluster = self.cluster
        b = cluster.brokers[broker]
        if not b.up:
            return
        self.replicate()
        now = float(self.env.now)
        b.paused_until = max(b.paused_until, now + duration)
        self._update_ready()
        cluster.trace.event(now, "broker-pause", broker_name(broker), until=b.paused_until)
        if duration >= self.session_timeout:
            cluster.sim.call_at(now + self.session_timeout, self._session_expired, broker,
                                b.incarnation)
        cluster.sim.call_at(b.paused_until, self._resumed, broker, b.incarnation)

    def _resumed(self, broker: int, incarnation: int) -> None:
        b = self.cluster.brokers[broker]
        self._update_ready()
        if b.incarnation != incarnation or not b.up or b.paused_until > self.env.now:
            return
        self.cluster.trace.event(float(self.env.now), "broker-resume", broker_name(broker))
        if b.fenced:
            self._rejoin(broker)
        for fx in self.fetchers.values():
            if broker in (fx.follower, fx.leader):
                fx.kick()

    # ---- faults ----------------------------------------------------------------------------
    def apply_fault(self, fault: Fault) -> None:
        """Carry out one ``sim.faults`` fault on a broker or on a link (see the docstring)."""
        cluster = self.cluster
        action = fault.action
        if isinstance(fault.target, tuple):
            a, b = fault.target
            self.replicate()
            net = cluster.net
            if action == "cut":
                net.cut(a, b, fault.params["direction"])
            elif action == "heal":
                net.heal(a, b)
            elif action == "latency":
                net.set_latency(a, b, fault.params["extra"])
            elif action == "loss":
                net.set_loss(a, b, fault.params["p"])
            self.maybe_steady(force=True)
            return
        broker = cluster.broker_id(fault.target)
        if broker is None:
            raise ValueError(f"a Kafka client cannot {action!r} through the cluster; use "
                             f"link faults (cut, heal, latency, loss) between it and a broker")
        if action == "crash":
            self.crash(broker)
        elif action == "restart":
            self.restart(broker)
        elif action == "pause":
            self.pause(broker, fault.params["duration"])
        else:
            raise ValueError(f"a Kafka broker cannot {action!r} (crash, restart, pause)")
