//! The control-flow graph of a lowered script, the analyses the rules share (a forward
//! must-analysis, shortest witness paths, two backward analyses within a turn, forward
//! reachability), all exact for paths on which every flow returns to the call that ran it.
//!
//! Nodes are instructions, plus one "listen" node per ask (after its question has played, while
//! the customer answers). Edges: fall-through, `Jump`, both ways of `JumpUnless`, `Ask` → its
//! listen node, listen → each branch and each objection handler, `Retry` → the ask again (its
//! listen node after a reprompt, its question otherwise), `Resume` → the interrupted question,
//! `do` → its `ok` and `failed` bodies, `Call` → the flow's first instruction.
//!
//! Objection handlers run with the state of the ask they interrupt (LANGUAGE.md §9.7), so their
//! code is copied per interrupted ask: a handler node is `(instruction, ask)`. An ask inside a
//! handler interrupts with the same ask as the handler it stands in, and `resume` anywhere in a
//! handler returns to that ask. A flow called from handler code runs in that handler's context
//! too (its asks interrupt the same ask), so its code is copied once per context like handler
//! code. The graph is built from the start and keeps only nodes some call can reach; its size
//! is the script's code plus the handler code (and the flows it calls) once per ask.
//!
//! Flows (§12) are seen through by *summaries*, not by copying a flow per call chain: each
//! flow's code is one *instance* per handler context (the script's own code, with the handler
//! code of its asks, is instance 0), and a `return` has no edge in the graph. Each analysis
//! first solves every instance on its own from its entry, callees before callers (recursion is
//! an error, E309, so the calls form a DAG), treating a `call` as one edge to the instruction
//! after it that stands for the callee's shortest (or every) way from its entry to a `return`;
//! then it goes from the start down the calls, giving each instance what holds at the calls
//! that enter it. A few edges leave an instance other than by returning (*escapes*): a handler's
//! `goto` leaves every flow, and an ask of a flow run from handler code is interrupted by the
//! handlers of the outer ask (whose `resume` goes back there). An escape always lands in an
//! instance that is on the call stack below it (one that called it, or the script's own code),
//! so an instance's summary also says where its escapes land (and how far, or with what facts,
//! from its entry), and the caller takes them as edges from the call. Each flow's instructions
//! are thus analysed once per context: the cost is linear in the code, whatever the nesting.
//!
//! - [`Cfg::shortest`]: per instance, Dijkstra from its entry (breadth-first where it makes no
//!   call) over its own edges, the calls' summary edges (the callee's shortest entry→`return`
//!   length avoiding the stop nodes) and its callees' escapes; then the distance of a node is
//!   the shortest way to a call of its instance plus its distance inside. [`Paths::to`] expands
//!   a summary edge into the callee's lines, so a witness still names the call site, the flow's
//!   lines and its `return` (a flow whose way through is longer than `SHOWN_INSIDE`, as
//!   nested calls make it by doubling at each level, is shown by its call and its return, so a
//!   witness stays short where its path is exponentially long).
//! - [`Cfg::must`]: gen-only (out = in | adds), so a flow adds the facts added on every way from
//!   its entry to a `return`, and inside a flow holds what holds at every call of it joined
//!   with what the flow's own code added since its entry: per instance to a fixed point from
//!   its entry, then down the calls.
//! - [`Cfg::reaches_in_turn`], [`Cfg::always_in_turn`]: a `return` goes back to whichever call
//!   ran the flow, so each node gets two values, with the flow's returns counted false and
//!   true, solved once with the calls as summaries; a node's result holds for *every* calling
//!   context (the rules ask whether the customer can always reach a person, always be opted
//!   out), combining the values down the calls from the start.
//! - [`Cfg::reachable_from`]: forward reachability from a set of nodes reached in any calling
//!   context, whose returns go to every call of their flow, while code entered by a call from
//!   there returns only to that call.
//!
//! `cfg/reference.rs` keeps the former graph, a copy of each flow per call chain, as the tests'
//! oracle: every analysis here is compared with it on the fixtures and on nested flows.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

use crate::bytecode::{AskId, Instruction, PromptId, ScriptCode};

pub type NodeId = u32;

/// "None" in the per-node tables.
const NONE: u32 = u32::MAX;

/// Where a node is in the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum At {
    Instr(u32),
    /// The ask listening for an answer (its question has played).
    Listen(AskId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub at: At,
    /// For handler code (and flows it calls): the (top-level) ask the handler interrupted.
    pub ctx: Option<AskId>,
}

/// Why control goes from one node to the next; the witness labels are made from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Next,
    Jump,
    /// `if`: the condition held (true) or not (false).
    If(bool),
    /// From an ask to its listening.
    Listen,
    /// From listening to the ask's branch `i`.
    Branch(u16),
    /// From listening to the objection handler `i`.
    Handler(u16),
    Retry,
    Resume,
    /// `listen`: back to listening to an ask without asking again.
    Relisten,
    /// Into a flow from its `call`.
    Call,
    /// Out of a flow, after its `call` (only in witness paths: the graph has summaries).
    Return,
    /// From a `do` to its `ok` (true) or `failed` (false) body (§13).
    Action(bool),
}

impl Edge {
    /// Edges that stay within one customer turn (no new answer is awaited).
    pub fn in_turn(self) -> bool {
        matches!(self, Edge::Next | Edge::Jump | Edge::If(_) | Edge::Call | Edge::Return | Edge::Action(_))
    }
}

/// One run of code: the script's own code (0) or a flow in one handler context.
pub type InstanceId = u32;
const MAIN: InstanceId = 0;

struct Instance {
    /// The first node (the start for instance 0, the flow's first instruction otherwise).
    entry: NodeId,
    /// Its nodes: its code and the handler code of its top-level asks.
    nodes: Vec<NodeId>,
    /// The `call` nodes that enter it.
    callers: Vec<NodeId>,
    /// Its `return` nodes.
    returns: Vec<NodeId>,
    /// It holds a `call`.
    calls: bool,
}

pub struct Cfg {
    pub nodes: Vec<Node>,
    /// Successors of node `i`: `succ[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    succ: Vec<(NodeId, Edge)>,
    /// Each ask's pc.
    pub ask_pc: Vec<u32>,
    /// The instance of each node.
    instance: Vec<InstanceId>,
    instances: Vec<Instance>,
    /// The instances, callees before callers (instance 0 last).
    order: Vec<InstanceId>,
    /// Per node: for a `call`, the callee's instance and the node after the call (NONE when the
    /// flow never returns); (NONE, NONE) otherwise.
    call: Vec<(InstanceId, NodeId)>,
    /// Per node: it is a `return`.
    is_return: Vec<bool>,
    /// Per instance: some way from its entry reaches a `return`.
    can_return: Vec<bool>,
    /// Per instance: the nodes outside it that its escapes (or its callees') reach.
    escapes: Vec<Vec<NodeId>>,
}

/// The node the call starts at.
pub const START: NodeId = 0;

/// The graph before it is laid out: nodes, successors, the node after each call.
struct Raw {
    nodes: Vec<Node>,
    /// Successors of node `i`: `succ[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    succ: Vec<(NodeId, Edge)>,
    after_call: Vec<NodeId>,
}

impl Raw {
    fn new() -> Raw {
        Raw { nodes: Vec::new(), start: vec![0], succ: Vec::new(), after_call: Vec::new() }
    }

    fn successors(&self, v: usize) -> &[(NodeId, Edge)] {
        &self.succ[self.start[v] as usize..self.start[v + 1] as usize]
    }
}

impl Cfg {
    pub fn build(code: &ScriptCode) -> Cfg {
        let n = code.code.len() as u32;
        let mut ask_pc = vec![u32::MAX; code.asks.len()];
        for (pc, i) in code.code.iter().enumerate() {
            if let Instruction::Ask(a) = i {
                ask_pc[*a as usize] = pc as u32;
            }
        }
        // The script's own code ends where the handlers' (then the flows') begins.
        let handler_start =
            code.handlers.iter().map(|h| h.pc).chain(code.flows.iter().map(|f| f.pc)).min().unwrap_or(n);
        if n == 0 {
            return Cfg::assemble(code, &ask_pc, handler_start, Raw::new()).0;
        }
        let owner = retry_owners(code);
        let mut builder = Builder {
            code,
            n,
            handler_start,
            ask_pc: &ask_pc,
            owner: &owner,
            plain: vec![NONE; n as usize + code.asks.len()],
            ids: FxHashMap::default(),
            nodes: Vec::new(),
            queue: VecDeque::new(),
        };
        let mut raw = Raw::new();
        builder.id(Node { at: At::Instr(0), ctx: None });
        // Nodes get ids in breadth-first order, so their successor lists can be laid out in
        // id order as each node is taken from the queue.
        let mut next = 0u32;
        let mut successors = Vec::new();
        while let Some(id) = builder.queue.pop_front() {
            debug_assert_eq!(id, next);
            next += 1;
            let node = builder.nodes[id as usize];
            successors.clear();
            builder.successors(node, &mut successors);
            for &(to, edge) in &successors {
                let to = builder.id(to);
                raw.succ.push((to, edge));
            }
            raw.start.push(raw.succ.len() as u32);
            // The code after a call, reached when the flow returns (kept only if it does).
            let after = match node.at {
                At::Instr(pc) if matches!(code.code[pc as usize], Instruction::Call(_)) && pc + 1 < n => {
                    builder.id(builder.at(pc + 1, node.ctx))
                }
                _ => NONE,
            };
            raw.after_call.push(after);
        }
        raw.nodes = builder.nodes;
        let (cfg, reached) = Cfg::assemble(code, &ask_pc, handler_start, raw);
        // Drop the nodes no call reaches (the code after a call whose flow never returns, and
        // what only it leads to), keeping the others in order.
        if (0..cfg.len() as NodeId).all(|v| reached.reached(v)) {
            return cfg;
        }
        let mut new_id = vec![NONE; cfg.len()];
        let mut next = 0;
        for (v, id) in new_id.iter_mut().enumerate() {
            if reached.reached(v as NodeId) {
                *id = next;
                next += 1;
            }
        }
        let renamed = |w: NodeId| if w == NONE { NONE } else { new_id[w as usize] };
        let mut kept = Raw::new();
        for v in (0..cfg.len()).filter(|&v| new_id[v] != NONE) {
            kept.nodes.push(cfg.nodes[v]);
            let succ = cfg.successors(v as NodeId).iter().filter(|(w, _)| renamed(*w) != NONE);
            kept.succ.extend(succ.map(|&(w, e)| (renamed(w), e)));
            kept.start.push(kept.succ.len() as u32);
            kept.after_call.push(renamed(cfg.call[v].1));
        }
        Cfg::assemble(code, &ask_pc, handler_start, kept).0
    }

    /// Lays out the successor lists and works out the instances and the calls' summaries; with
    /// the shortest paths that stop nowhere (what is reached).
    fn assemble(code: &ScriptCode, ask_pc: &[u32], handler_start: u32, raw: Raw) -> (Cfg, Paths) {
        let len = raw.nodes.len();
        let mut flow_pcs: Vec<(u32, u32)> = code.flows.iter().enumerate().map(|(i, f)| (f.pc, i as u32)).collect();
        flow_pcs.sort_unstable();
        // The flow whose code holds `pc` (flows are laid out one after another, after the
        // handlers).
        let flow_of = |pc: u32| -> Option<u32> {
            let i = flow_pcs.partition_point(|&(start, _)| start <= pc);
            (i > 0).then(|| flow_pcs[i - 1].1)
        };
        let pc_of = |node: &Node| match node.at {
            At::Instr(pc) => pc,
            At::Listen(a) => ask_pc[a as usize],
        };
        // An instance is named by (flow, context); the script's own code by (NONE, None).
        let key = |node: &Node| -> (u32, Option<AskId>) {
            let pc = pc_of(node);
            if pc < handler_start {
                return (NONE, None);
            }
            if let Some(f) = flow_of(pc) {
                return (f, node.ctx);
            }
            // Handler code belongs with the ask it interrupts.
            match node.ctx {
                Some(a) => match flow_of(ask_pc[a as usize]) {
                    Some(f) if ask_pc[a as usize] >= handler_start => (f, None),
                    _ => (NONE, None),
                },
                None => (NONE, None),
            }
        };
        let mut keys: FxHashMap<(u32, Option<AskId>), InstanceId> = FxHashMap::from_iter([((NONE, None), MAIN)]);
        let mut instances =
            vec![Instance { entry: START, nodes: Vec::new(), callers: Vec::new(), returns: Vec::new(), calls: false }];
        let mut instance = vec![MAIN; len];
        let mut is_return = vec![false; len];
        for (v, node) in raw.nodes.iter().enumerate() {
            let k = if node.ctx.is_none() && pc_of(node) < handler_start {
                MAIN
            } else {
                *keys.entry(key(node)).or_insert_with(|| {
                    instances.push(Instance {
                        entry: NONE,
                        nodes: Vec::new(),
                        callers: Vec::new(),
                        returns: Vec::new(),
                        calls: false,
                    });
                    (instances.len() - 1) as InstanceId
                })
            };
            instance[v] = k;
            instances[k as usize].nodes.push(v as NodeId);
            if let At::Instr(pc) = node.at
                && code.code[pc as usize] == Instruction::Return
            {
                instances[k as usize].returns.push(v as NodeId);
                is_return[v] = true;
            }
        }
        let mut call = vec![(NONE, NONE); len];
        for v in 0..len {
            for &(w, edge) in raw.successors(v) {
                if edge == Edge::Call {
                    let k = instance[w as usize];
                    instances[k as usize].entry = w;
                    instances[k as usize].callers.push(v as NodeId);
                    call[v] = (k, raw.after_call[v]);
                    instances[instance[v] as usize].calls = true;
                }
            }
        }
        // Callees before callers: a depth-first post-order of the calls from instance 0.
        let mut callees: Vec<Vec<InstanceId>> = vec![Vec::new(); instances.len()];
        for (v, &(k, _)) in call.iter().enumerate() {
            if k != NONE {
                callees[instance[v] as usize].push(k);
            }
        }
        let mut order = Vec::with_capacity(instances.len());
        let mut seen = vec![false; instances.len()];
        let mut stack = vec![(MAIN, 0usize)];
        seen[MAIN as usize] = true;
        while let Some((k, i)) = stack.pop() {
            match callees[k as usize].get(i) {
                Some(&c) => {
                    stack.push((k, i + 1));
                    if !seen[c as usize] {
                        seen[c as usize] = true;
                        stack.push((c, 0));
                    }
                }
                None => order.push(k),
            }
        }
        let count = instances.len();
        let mut cfg = Cfg {
            nodes: raw.nodes,
            start: raw.start,
            succ: raw.succ,
            ask_pc: ask_pc.to_vec(),
            instance,
            instances,
            order,
            call,
            is_return,
            can_return: vec![false; count],
            escapes: vec![Vec::new(); count],
        };
        let all = cfg.shortest(|_| false);
        cfg.can_return = all.ret.iter().map(Option::is_some).collect();
        cfg.escapes = all.escape.iter().map(|e| e.keys().copied().collect()).collect();
        (cfg, all)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The edges of the graph from a node (a `call` goes into its flow; a `return` has none).
    pub fn successors(&self, id: NodeId) -> &[(NodeId, Edge)] {
        &self.succ[self.start[id as usize] as usize..self.start[id as usize + 1] as usize]
    }

    /// The prompt a node plays: a `say`, an ask's question, a retry's reprompt.
    pub fn prompt(&self, code: &ScriptCode, id: NodeId) -> Option<PromptId> {
        match self.nodes[id as usize].at {
            At::Instr(pc) => match code.code[pc as usize] {
                Instruction::Say(p) | Instruction::Retry(Some(p)) => Some(p),
                Instruction::Ask(a) => Some(code.asks[a as usize].prompt),
                _ => None,
            },
            At::Listen(_) => None,
        }
    }

    pub fn instruction(&self, code: &ScriptCode, id: NodeId) -> Option<Instruction> {
        match self.nodes[id as usize].at {
            At::Instr(pc) => Some(code.code[pc as usize]),
            At::Listen(_) => None,
        }
    }

    fn entry(&self, k: InstanceId) -> NodeId {
        self.instances[k as usize].entry
    }

    /// Forward must-analysis over a lattice of up to 32 facts (bits): `result[n]` holds the
    /// facts true on every path from the start to `n` (before `n` runs); a node adds
    /// `adds(n)`. The analysis is gen-only (out = in | adds), so a flow's effect is to add the
    /// facts added on every way from its entry to a `return`, and what holds in a flow is what
    /// holds at every call of it joined with what its own code adds from its entry. Each
    /// instance is iterated with a worklist to the greatest fixed point from its entry
    /// (callees first, a call adding its flow's facts; an escape, what is added up to it), then
    /// the calls' facts are combined down from the start. Every set only shrinks, so each node
    /// is revisited at most once per fact and the cost is linear in the graph.
    pub fn must(&self, adds: impl Fn(NodeId) -> u32) -> Vec<u32> {
        let len = self.len();
        let gens: Vec<u32> = (0..len as NodeId).map(adds).collect();
        let count = self.instances.len();
        // From the entry of each node's instance.
        let mut local = vec![u32::MAX; len];
        let mut seen = vec![false; len];
        // Per instance: added on every way from its entry to a return (None: it never
        // returns), and to each of its escapes' targets.
        let mut through: Vec<Option<u32>> = vec![None; count];
        let mut escape: Vec<BTreeMap<NodeId, u32>> = vec![BTreeMap::new(); count];
        let mut work = VecDeque::new();
        for &k in &self.order {
            let entry = self.entry(k);
            if entry == NONE {
                continue;
            }
            let mut out_of: BTreeMap<NodeId, u32> = BTreeMap::new();
            // The entry's facts stay empty: the flow (or the call) begins with nothing done.
            let meet = |w: NodeId, facts: u32, local: &mut [u32], seen: &mut [bool], work: &mut VecDeque<NodeId>| {
                let before = local[w as usize];
                let after = if w == entry { 0 } else { before & facts };
                if after != before || !seen[w as usize] {
                    local[w as usize] = after;
                    seen[w as usize] = true;
                    work.push_back(w);
                }
            };
            meet(entry, 0, &mut local, &mut seen, &mut work);
            while let Some(v) = work.pop_front() {
                let out = local[v as usize] | gens[v as usize];
                for &(w, edge) in self.successors(v) {
                    if edge == Edge::Call {
                        continue;
                    }
                    if self.instance[w as usize] != k {
                        *out_of.entry(w).or_insert(u32::MAX) &= out;
                        continue;
                    }
                    meet(w, out, &mut local, &mut seen, &mut work);
                }
                let (callee, after) = self.call[v as usize];
                if callee == NONE {
                    continue;
                }
                if after != NONE
                    && let Some(added) = through[callee as usize]
                {
                    meet(after, out | added, &mut local, &mut seen, &mut work);
                }
                for (&t, &added) in &escape[callee as usize] {
                    if self.instance[t as usize] == k {
                        meet(t, out | added, &mut local, &mut seen, &mut work);
                    } else {
                        *out_of.entry(t).or_insert(u32::MAX) &= out | added;
                    }
                }
            }
            through[k as usize] = self.instances[k as usize]
                .returns
                .iter()
                .filter(|&&r| seen[r as usize])
                .map(|&r| local[r as usize] | gens[r as usize])
                .reduce(|a, b| a & b);
            escape[k as usize] = out_of;
        }
        // Callers first: what holds at every call of an instance holds in it.
        let mut enter: Vec<Option<u32>> = vec![None; count];
        enter[MAIN as usize] = Some(0);
        let mut facts = vec![u32::MAX; len];
        for &k in self.order.iter().rev() {
            let Some(at_entry) = enter[k as usize] else { continue };
            for &v in &self.instances[k as usize].nodes {
                if !seen[v as usize] {
                    continue;
                }
                facts[v as usize] = at_entry | local[v as usize];
                let callee = self.call[v as usize].0;
                if callee != NONE {
                    let out = facts[v as usize] | gens[v as usize];
                    enter[callee as usize] = Some(enter[callee as usize].map_or(out, |f| f & out));
                }
            }
        }
        facts
    }

    /// Shortest paths from the start that do not go on from nodes where `stop` holds (they are
    /// reached, not passed), on which every flow returns to its call. Each instance is solved
    /// once from its entry (callees first), then the instances are entered from their nearest
    /// calls (callers first).
    pub fn shortest(&self, stop: impl Fn(NodeId) -> bool) -> Paths {
        let len = self.len();
        let count = self.instances.len();
        let mut p = Paths {
            dist: vec![u32::MAX; len],
            local: vec![u32::MAX; len],
            pred: vec![Pred::Unreached; len],
            ret: vec![None; count],
            escape: vec![BTreeMap::new(); count],
            enter: vec![None; count],
        };
        if len == 0 {
            return p;
        }
        let mut seq = 0u32;
        for &k in &self.order {
            let entry = self.entry(k);
            if entry == NONE {
                continue;
            }
            let mut escapes: BTreeMap<NodeId, (u32, Via)> = BTreeMap::new();
            // Breadth-first where every edge has length 1 (no call), Dijkstra where a call's
            // summary edge is longer; both take nodes in order of distance, then of arrival.
            let mut heap = if self.instances[k as usize].calls {
                Queue::Heap(BinaryHeap::new())
            } else {
                Queue::Fifo(VecDeque::new())
            };
            let mut relax = |p: &mut Paths, heap: &mut Queue, w: NodeId, d: u32, why: Pred| {
                if d < p.local[w as usize] {
                    p.local[w as usize] = d;
                    p.pred[w as usize] = why;
                    seq += 1;
                    heap.push((d, seq, w));
                }
            };
            relax(&mut p, &mut heap, entry, 0, Pred::Entry);
            while let Some((d, _, v)) = heap.pop() {
                if d > p.local[v as usize] || stop(v) {
                    continue;
                }
                for &(w, edge) in self.successors(v) {
                    if edge == Edge::Call {
                        continue;
                    }
                    if self.instance[w as usize] != k {
                        let best = escapes.entry(w).or_insert((u32::MAX, Via::Edge(v, edge)));
                        if plus(d, 1) < best.0 {
                            *best = (plus(d, 1), Via::Edge(v, edge));
                        }
                        continue;
                    }
                    relax(&mut p, &mut heap, w, plus(d, 1), Pred::Edge(v, edge));
                }
                let (callee, after) = self.call[v as usize];
                if callee == NONE {
                    continue;
                }
                if after != NONE
                    && let Some((inside, _)) = p.ret[callee as usize]
                {
                    relax(&mut p, &mut heap, after, plus(d, plus(inside, 2)), Pred::Returned(v));
                }
                let out: Vec<(NodeId, u32)> = p.escape[callee as usize].iter().map(|(&t, &(l, _))| (t, l)).collect();
                for (t, inside) in out {
                    let d = plus(d, plus(1, inside));
                    if self.instance[t as usize] == k {
                        relax(&mut p, &mut heap, t, d, Pred::Escaped(v));
                    } else {
                        let best = escapes.entry(t).or_insert((u32::MAX, Via::Call(v)));
                        if d < best.0 {
                            *best = (d, Via::Call(v));
                        }
                    }
                }
            }
            p.ret[k as usize] = self.instances[k as usize]
                .returns
                .iter()
                .filter(|&&r| p.local[r as usize] != u32::MAX && !stop(r))
                .map(|&r| (p.local[r as usize], r))
                .min();
            p.escape[k as usize] = escapes;
        }
        // Callers first: an instance is entered from its nearest call.
        let mut base: Vec<Option<(u32, NodeId)>> = vec![None; count];
        base[MAIN as usize] = Some((0, NONE));
        for &k in self.order.iter().rev() {
            let Some((b, call)) = base[k as usize] else { continue };
            p.enter[k as usize] = (call != NONE).then_some(call);
            for &v in &self.instances[k as usize].nodes {
                if p.local[v as usize] == u32::MAX {
                    continue;
                }
                let d = plus(b, p.local[v as usize]);
                p.dist[v as usize] = d;
                let callee = self.call[v as usize].0;
                if callee != NONE && !stop(v) && base[callee as usize].is_none_or(|best| (plus(d, 1), v) < best) {
                    base[callee as usize] = Some((plus(d, 1), v));
                }
            }
        }
        p
    }

    /// Backward analysis within one turn: `result[n]` is true when, in every calling context,
    /// `n` can reach a node where `target` holds by edges that await no answer (fall-through,
    /// jumps, `if`, calls and returns).
    pub fn reaches_in_turn(&self, target: impl Fn(NodeId) -> bool) -> Vec<bool> {
        self.in_turn(target, false)
    }

    /// Backward must-analysis within one turn: `result[n]` is true when, in every calling
    /// context, every way on from `n` passes a node where `target` holds before the turn ends
    /// (at `hangup`, `transfer`, an ask, `retry` or `resume`). Greatest fixed point: falsehood
    /// spreads back from the ends.
    pub fn always_in_turn(&self, target: impl Fn(NodeId) -> bool) -> Vec<bool> {
        self.in_turn(target, true)
    }

    /// Both turn analyses: each node has two values, `value[x][n]` with its flow's returns
    /// counted as `x` (false, true); a call's value is its flow's entry's, with the node after
    /// the call standing for the returns. As a function of what a return leads to, a node's
    /// value is `value[0] || (value[1] && after)`, and what a return leads to is combined over
    /// the calls of the flow, from the start down (every context).
    fn in_turn(&self, target: impl Fn(NodeId) -> bool, every: bool) -> Vec<bool> {
        let len = self.len();
        let holds: Vec<bool> = (0..len as NodeId).map(target).collect();
        let mut value = [vec![every; len], vec![every; len]];
        // The nodes whose value depends on each node's: a call on its flow's entry and on the
        // node after it, any other node on its successors within the turn.
        let deps = super::Groups::new(len, |put| {
            for v in 0..len {
                let (callee, after) = self.call[v];
                if callee != NONE {
                    put(self.entry(callee) as usize, v as NodeId);
                    if after != NONE {
                        put(after as usize, v as NodeId);
                    }
                } else {
                    for &(w, edge) in self.successors(v as NodeId) {
                        if edge.in_turn() {
                            put(w as usize, v as NodeId);
                        }
                    }
                }
            }
        });
        let eval = |value: &[Vec<bool>; 2], v: usize, x: usize| -> bool {
            if holds[v] {
                return true;
            }
            if self.is_return[v] {
                return x == 1 && self.instance[v] != MAIN;
            }
            let (callee, after) = self.call[v];
            if callee != NONE {
                let e = self.entry(callee) as usize;
                let then = after != NONE && value[x][after as usize];
                return value[0][e] || (value[1][e] && then);
            }
            let mut any = false;
            let mut acc = every;
            for &(w, edge) in self.successors(v as NodeId) {
                if !edge.in_turn() {
                    continue;
                }
                any = true;
                // An escape (a handler's `goto`) leaves the flows: no return is pending.
                let x = if self.instance[w as usize] == self.instance[v] { x } else { 0 };
                let w = value[x][w as usize];
                acc = if every { acc && w } else { acc || w };
            }
            any && acc
        };
        let mut work: Vec<NodeId> = (0..len as NodeId).collect();
        let mut queued = vec![true; len];
        while let Some(v) = work.pop() {
            queued[v as usize] = false;
            let mut changed = false;
            for x in 0..2 {
                let now = eval(&value, v as usize, x);
                if now != value[x][v as usize] {
                    value[x][v as usize] = now;
                    changed = true;
                }
            }
            if changed {
                for &d in &deps[v as usize] {
                    if !queued[d as usize] {
                        queued[d as usize] = true;
                        work.push(d);
                    }
                }
            }
        }
        // What a return leads to, in every context of each instance (callers first).
        let mut after_return = vec![true; self.instances.len()];
        after_return[MAIN as usize] = false;
        for &k in self.order.iter().rev().filter(|&&k| k != MAIN) {
            after_return[k as usize] = self.instances[k as usize].callers.iter().all(|&c| {
                let after = self.call[c as usize].1;
                after == NONE || {
                    let a = after as usize;
                    value[0][a] || (value[1][a] && after_return[self.instance[c as usize] as usize])
                }
            });
        }
        (0..len).map(|v| value[0][v] || (value[1][v] && after_return[self.instance[v] as usize])).collect()
    }

    /// Forward reachability from `sources` (each reached in every calling context): for each
    /// node, one of the sources it can be reached from. A source's flow returns to every call
    /// of it; a flow entered on the way returns only to the call that entered it.
    pub fn reachable_from(&self, sources: impl Iterator<Item = NodeId>) -> Vec<Option<NodeId>> {
        // 0: not reached; 1: reached inside a call made on the way; 2: in any context.
        struct Search {
            state: Vec<u8>,
            from: Vec<Option<NodeId>>,
            work: VecDeque<NodeId>,
        }
        impl Search {
            fn visit(&mut self, w: NodeId, s: u8, origin: NodeId) {
                if self.state[w as usize] < s {
                    self.state[w as usize] = s;
                    self.from[w as usize] = Some(origin);
                    self.work.push_back(w);
                }
            }
        }
        let mut q = Search { state: vec![0; self.len()], from: vec![None; self.len()], work: VecDeque::new() };
        for n in sources {
            q.visit(n, 2, n);
        }
        while let Some(v) = q.work.pop_front() {
            let s = q.state[v as usize];
            let origin = q.from[v as usize].unwrap_or(v);
            let k = self.instance[v as usize];
            for &(w, edge) in self.successors(v) {
                if edge == Edge::Call {
                    q.visit(w, 1, origin);
                } else if self.instance[w as usize] == k {
                    q.visit(w, s, origin);
                } else if s == 2 {
                    // An escape; inside a call, the call's summary below stands for it.
                    q.visit(w, 2, origin);
                }
            }
            let (callee, after) = self.call[v as usize];
            if callee != NONE {
                if after != NONE && self.can_return[callee as usize] {
                    q.visit(after, s, origin);
                }
                for &t in &self.escapes[callee as usize] {
                    if self.instance[t as usize] == k {
                        q.visit(t, s, origin);
                    } else if s == 2 {
                        q.visit(t, 2, origin);
                    }
                }
            }
            if s == 2 && k != MAIN && self.is_return[v as usize] {
                for &c in &self.instances[k as usize].callers {
                    let after = self.call[c as usize].1;
                    if after != NONE {
                        q.visit(after, 2, origin);
                    }
                }
            }
        }
        q.from
    }
}

/// The nodes a search has still to take, nearest first (then in order of arrival).
enum Queue {
    /// When every edge has length 1, arrival order is distance order.
    Fifo(VecDeque<(u32, u32, NodeId)>),
    Heap(BinaryHeap<Reverse<(u32, u32, NodeId)>>),
}

impl Queue {
    fn push(&mut self, item: (u32, u32, NodeId)) {
        match self {
            Queue::Fifo(q) => q.push_back(item),
            Queue::Heap(h) => h.push(Reverse(item)),
        }
    }

    fn pop(&mut self) -> Option<(u32, u32, NodeId)> {
        match self {
            Queue::Fifo(q) => q.pop_front(),
            Queue::Heap(h) => h.pop().map(|Reverse(item)| item),
        }
    }
}

/// A path length: the lengths of paths through nested calls can double with each level, so
/// they stop short of `u32::MAX` (which marks what is not reached).
fn plus(a: u32, b: u32) -> u32 {
    a.saturating_add(b).min(u32::MAX - 1)
}

/// How a node was first reached in its instance's search.
#[derive(Clone, Copy, Debug)]
enum Pred {
    Unreached,
    /// The instance's entry.
    Entry,
    Edge(NodeId, Edge),
    /// After this call, its flow having returned.
    Returned(NodeId),
    /// From this call, by an escape of its flow.
    Escaped(NodeId),
}

/// How an instance's shortest way to an escape's target leaves it.
#[derive(Clone, Copy, Debug)]
enum Via {
    Edge(NodeId, Edge),
    /// Through this call, whose flow's escape it is.
    Call(NodeId),
}

/// The longest way through a flow that returned that a witness shows line by line; a longer
/// one (nested calls can double its length at each level) is shown by its call and its return.
const SHOWN_INSIDE: u32 = 400;

/// Shortest paths from the start (see [`Cfg::shortest`]).
pub struct Paths {
    /// From the start.
    dist: Vec<u32>,
    /// From the entry of the node's instance.
    local: Vec<u32>,
    pred: Vec<Pred>,
    /// Per instance: its shortest way to a `return` (length, the return).
    ret: Vec<Option<(u32, NodeId)>>,
    /// Per instance: its escapes' targets and the shortest way there from its entry.
    escape: Vec<BTreeMap<NodeId, (u32, Via)>>,
    /// Per instance: the call it is entered from on the shortest way (None for instance 0).
    enter: Vec<Option<NodeId>>,
}

impl Paths {
    pub fn reached(&self, n: NodeId) -> bool {
        self.dist[n as usize] != u32::MAX
    }

    /// The path from the start to `n` as the edges taken, each with the node it leaves:
    /// `[(start, e1), (n1, e2), …]`, ending at `n` (which is not included). A call whose flow
    /// returned is expanded into the flow's lines, from the call to its `return`, unless that
    /// way is longer than `SHOWN_INSIDE` (then the path steps from the flow's entry to its
    /// `return`).
    pub fn to(&self, cfg: &Cfg, n: NodeId) -> Option<Vec<(NodeId, Edge, NodeId)>> {
        if !self.reached(n) {
            return None;
        }
        let mut steps = Vec::new();
        let mut at = n;
        loop {
            self.back(cfg, at, &mut steps);
            let k = cfg.instance[at as usize];
            let Some(call) = self.enter[k as usize] else { break };
            steps.push((call, Edge::Call, cfg.entry(k)));
            at = call;
        }
        steps.reverse();
        Some(steps)
    }

    /// The steps from `n` back to its instance's entry, last first.
    fn back(&self, cfg: &Cfg, n: NodeId, out: &mut Vec<(NodeId, Edge, NodeId)>) {
        let mut at = n;
        loop {
            match self.pred[at as usize] {
                Pred::Unreached | Pred::Entry => return,
                Pred::Edge(v, edge) => {
                    out.push((v, edge, at));
                    at = v;
                }
                Pred::Returned(call) => {
                    let k = cfg.call[call as usize].0;
                    let Some((inside, ret)) = self.ret[k as usize] else { return };
                    out.push((ret, Edge::Return, at));
                    // A long way through the flow (nested calls double it at each level) is
                    // shown by its call and its return only.
                    if inside <= SHOWN_INSIDE {
                        self.back(cfg, ret, out);
                    }
                    out.push((call, Edge::Call, cfg.entry(k)));
                    at = call;
                }
                Pred::Escaped(call) => {
                    let k = cfg.call[call as usize].0;
                    self.escape_steps(cfg, k, at, out);
                    out.push((call, Edge::Call, cfg.entry(k)));
                    at = call;
                }
            }
        }
    }

    /// The steps of instance `k`'s shortest way from its entry out to `target`, last first.
    fn escape_steps(&self, cfg: &Cfg, k: InstanceId, target: NodeId, out: &mut Vec<(NodeId, Edge, NodeId)>) {
        match self.escape[k as usize].get(&target).map(|&(_, via)| via) {
            Some(Via::Edge(v, edge)) => {
                out.push((v, edge, target));
                self.back(cfg, v, out);
            }
            Some(Via::Call(call)) => {
                let inner = cfg.call[call as usize].0;
                self.escape_steps(cfg, inner, target, out);
                out.push((call, Edge::Call, cfg.entry(inner)));
                self.back(cfg, call, out);
            }
            None => {}
        }
    }

    /// The number of edges from the start to `n` (a flow's lines counted in full).
    pub fn distance(&self, n: NodeId) -> Option<u32> {
        self.reached(n).then(|| self.dist[n as usize])
    }
}

struct Builder<'c> {
    code: &'c ScriptCode,
    n: u32,
    handler_start: u32,
    ask_pc: &'c [u32],
    owner: &'c [Option<AskId>],
    /// The ids of the nodes without a context, by pc, then by ask for the listen nodes: most
    /// nodes are these, and a lookup here costs no hashing.
    plain: Vec<NodeId>,
    /// The ids of the nodes with a context (handler code copied per ask).
    ids: FxHashMap<Node, NodeId>,
    nodes: Vec<Node>,
    queue: VecDeque<NodeId>,
}

type Ctx = Option<AskId>;

impl Builder<'_> {
    fn id(&mut self, node: Node) -> NodeId {
        let next = self.nodes.len() as NodeId;
        let id = match (node.ctx, node.at) {
            (None, At::Instr(pc)) => &mut self.plain[pc as usize],
            (None, At::Listen(a)) => &mut self.plain[self.n as usize + a as usize],
            (Some(_), _) => self.ids.entry(node).or_insert(NONE),
        };
        if *id != NONE {
            return *id;
        }
        *id = next;
        self.nodes.push(node);
        self.queue.push_back(next);
        next
    }

    /// The node at `pc` reached from code run for `ctx`: the script's own code has no context
    /// (a handler's `goto` leaves every flow).
    fn at(&self, pc: u32, ctx: Ctx) -> Node {
        if pc >= self.handler_start { Node { at: At::Instr(pc), ctx } } else { Node { at: At::Instr(pc), ctx: None } }
    }

    /// Asking ask `a` again (run for `ctx`): its question, or its listening after a reprompt.
    fn again(&self, a: AskId, ctx: Ctx, reprompt: bool) -> Node {
        let node = self.at(self.ask_pc[a as usize], ctx);
        if reprompt { Node { at: At::Listen(a), ..node } } else { node }
    }

    /// Puts the successors of `node` in `out` (a buffer the caller reuses: a list per node was
    /// an allocation for each of the graph's nodes).
    fn successors(&self, node: Node, out: &mut Vec<(Node, Edge)>) {
        let ctx = node.ctx;
        let pc = match node.at {
            At::Listen(a) => {
                let ask = &self.code.asks[a as usize];
                out.extend(ask.branches.iter().enumerate().map(|(i, b)| (self.at(b.pc, ctx), Edge::Branch(i as u16))));
                // A handler interrupts the top-level ask: this one, or the one whose handler
                // this ask stands in.
                let interrupted = ctx.unwrap_or(a);
                out.extend(
                    self.code
                        .handlers
                        .iter()
                        .enumerate()
                        .map(|(i, h)| (Node { at: At::Instr(h.pc), ctx: Some(interrupted) }, Edge::Handler(i as u16))),
                );
                return;
            }
            At::Instr(pc) => pc,
        };
        let next = |edge| (pc + 1 < self.n).then(|| (self.at(pc + 1, ctx), edge));
        let to = |target: u32, edge| (target < self.n).then(|| (self.at(target, ctx), edge));
        match self.code.code[pc as usize] {
            Instruction::EnterStep(_)
            | Instruction::Say(_)
            | Instruction::Set(..)
            | Instruction::Verify
            | Instruction::Tag(_)
            | Instruction::Callback(_)
            | Instruction::CallbackAt(..)
            | Instruction::Sms(_)
            | Instruction::Handover(_)
            | Instruction::Optout => out.extend(next(Edge::Next)),
            Instruction::Do(d) => {
                if let Some(d) = self.code.dos.get(d as usize) {
                    out.extend(next(Edge::Action(true)));
                    out.extend(to(d.failed, Edge::Action(false)));
                }
            }
            Instruction::Jump(t) => out.push((self.at(t, ctx), Edge::Jump)),
            Instruction::JumpUnless(_, t) => {
                out.extend(next(Edge::If(true)));
                out.extend(to(t, Edge::If(false)));
            }
            Instruction::Ask(a) => out.push((Node { at: At::Listen(a), ctx }, Edge::Listen)),
            Instruction::Retry(reprompt) => match self.owner[pc as usize] {
                Some(a) => out.push((self.again(a, ctx, reprompt.is_some()), Edge::Retry)),
                // A retry directly in a handler counts against the interrupted ask.
                None => out.extend(ctx.map(|a| (self.again(a, None, reprompt.is_some()), Edge::Retry))),
            },
            Instruction::Resume => out.extend(ctx.map(|a| (self.again(a, None, false), Edge::Resume))),
            Instruction::Listen(false) => {
                if let Some(a) = self.owner[pc as usize] {
                    out.push((self.again(a, ctx, true), Edge::Relisten));
                }
            }
            Instruction::Listen(true) => out.extend(ctx.map(|a| (self.again(a, None, true), Edge::Relisten))),
            Instruction::Call(f) => {
                if let Some(flow) = self.code.flows.get(f as usize) {
                    out.push((Node { at: At::Instr(flow.pc), ctx }, Edge::Call));
                }
            }
            // A flow's return goes back to its call: the call's summary edge, not an edge here.
            Instruction::Return | Instruction::Transfer(..) | Instruction::Hangup(_) => {}
        }
    }
}

/// The ask whose branch holds each `retry` (None for a retry directly in a handler body):
/// each branch body is walked once, within the body (not along gotos, which jump to a step's
/// `EnterStep`, nor into nested asks, whose branches are walked for their own ask).
fn retry_owners(code: &ScriptCode) -> Vec<Option<AskId>> {
    let n = code.code.len() as u32;
    let mut owner = vec![None; code.code.len()];
    let mut seen = vec![false; code.code.len()];
    for (a, ask) in code.asks.iter().enumerate() {
        let mut work: Vec<u32> = ask.branches.iter().map(|b| b.pc).collect();
        while let Some(pc) = work.pop() {
            if pc >= n || seen[pc as usize] {
                continue;
            }
            seen[pc as usize] = true;
            match code.code[pc as usize] {
                Instruction::Retry(_) | Instruction::Listen(false) => owner[pc as usize] = Some(a as AskId),
                Instruction::Ask(_)
                | Instruction::Listen(true)
                | Instruction::Return
                | Instruction::Resume
                | Instruction::Hangup(_)
                | Instruction::Transfer(..)
                | Instruction::EnterStep(_) => {}
                Instruction::Jump(t) => {
                    if !matches!(code.code.get(t as usize), Some(Instruction::EnterStep(_))) {
                        work.push(t);
                    }
                }
                Instruction::JumpUnless(_, t) => {
                    work.push(pc + 1);
                    work.push(t);
                }
                Instruction::Do(d) => {
                    work.push(pc + 1);
                    work.extend(code.dos.get(d as usize).map(|d| d.failed));
                }
                _ => work.push(pc + 1),
            }
        }
    }
    owner
}

#[cfg(test)]
mod reference;

/// The nested-flow scripts `check`'s benchmark measures, for the tests' structural checks.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../../benches/support/flows.rs"]
mod bench_flows;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The scripts of a source that checks without language errors.
    fn scripts(src: &str) -> Vec<ScriptCode> {
        let checked = crate::check::check_source("t.call", src);
        checked.programs.into_iter().flat_map(|(_, p)| p.scripts).collect()
    }

    type Key = (At, Option<AskId>);

    /// A pseudo-random choice per place, to pick facts, stops and targets.
    fn pick(key: Key, seed: u32, one_in: u32) -> bool {
        let x = match key.0 {
            At::Instr(pc) => pc.wrapping_mul(2_654_435_761),
            At::Listen(a) => (u32::from(a) + 7919).wrapping_mul(40_503),
        };
        (x.rotate_left(seed * 5 + 3) ^ seed.wrapping_mul(97)).is_multiple_of(one_in)
    }

    /// Every analysis of the summarised graph against the frame-based one: a place's result is
    /// the combination over the frames it runs in (every frame must hold, a distance is the
    /// nearest frame's, a place is reached from the sources in some frame).
    fn same_as_reference(code: &ScriptCode) {
        let new = Cfg::build(code);
        let old = reference::Cfg::build(code);
        let key = |n: NodeId| (new.nodes[n as usize].at, new.nodes[n as usize].ctx);
        let old_key = |n: reference::NodeId| {
            let node = old.nodes[n as usize];
            let at = match node.at {
                reference::At::Instr(pc) => At::Instr(pc),
                reference::At::Listen(a) => At::Listen(a),
            };
            (at, node.ctx.map(|c| c.0))
        };
        let mut frames: HashMap<Key, Vec<reference::NodeId>> = HashMap::new();
        for n in 0..old.len() as reference::NodeId {
            frames.entry(old_key(n)).or_default().push(n);
        }
        let index: HashMap<Key, NodeId> = (0..new.len() as NodeId).map(|n| (key(n), n)).collect();
        assert_eq!(index.len(), new.len(), "one node per place and context");
        let mut places: Vec<&Key> = frames.keys().collect();
        places.sort_by_key(|k| index.get(k));
        for k in &places {
            assert!(index.contains_key(k), "{k:?} is reached in the reference, not in the graph");
        }
        assert_eq!(frames.len(), new.len(), "the graph has places the reference never reaches");
        let each = |f: &dyn Fn(&Key, NodeId, &[reference::NodeId])| {
            for (k, olds) in &frames {
                f(k, index[k], olds);
            }
        };
        for seed in 0..12 {
            let adds = |k: Key| {
                if pick(k, seed, 3) {
                    1u32 << (seed % 3)
                } else if pick(k, seed + 11, 5) {
                    8
                } else {
                    0
                }
            };
            let facts = new.must(|n| adds(key(n)));
            let old_facts = old.must(|n| adds(old_key(n)));
            each(&|k, n, olds| {
                let want = olds.iter().fold(u32::MAX, |acc, &o| acc & old_facts[o as usize]);
                assert_eq!(facts[n as usize], want, "must at {k:?} (seed {seed})");
            });

            let stop = |k: Key| pick(k, seed + 3, 5);
            let paths = new.shortest(|n| stop(key(n)));
            let old_paths = old.shortest(|n| stop(old_key(n)));
            each(&|k, n, olds| {
                let want = olds.iter().filter_map(|&o| old_paths.distance(o)).min();
                assert_eq!(paths.distance(n), want, "distance to {k:?} (seed {seed})");
                let Some(path) = paths.to(&new, n) else { return };
                assert_eq!(path.len() as u32, want.unwrap(), "the witness to {k:?} is as long as the distance");
                let mut at = START;
                for &(from, edge, to) in &path {
                    assert_eq!(from, at, "the witness to {k:?} is connected");
                    assert!(!stop(key(from)), "the witness to {k:?} passes a stop");
                    let real = new.successors(from).contains(&(to, edge))
                        || (edge == Edge::Return && new.is_return[from as usize]);
                    assert!(real, "{from} -{edge:?}-> {to} on the witness to {k:?}");
                    at = to;
                }
                assert_eq!(at, n);
            });

            let target = |k: Key| pick(k, seed + 5, 4);
            let reaches = new.reaches_in_turn(|n| target(key(n)));
            let old_reaches = old.reaches_in_turn(|n| target(old_key(n)));
            let always = new.always_in_turn(|n| target(key(n)));
            let old_always = old.always_in_turn(|n| target(old_key(n)));
            each(&|k, n, olds| {
                assert_eq!(
                    reaches[n as usize],
                    olds.iter().all(|&o| old_reaches[o as usize]),
                    "reaches {k:?} ({seed})"
                );
                assert_eq!(always[n as usize], olds.iter().all(|&o| old_always[o as usize]), "always {k:?} ({seed})");
            });

            let source = |k: Key| pick(k, seed + 9, 7);
            let from = new.reachable_from((0..new.len() as NodeId).filter(|&n| source(key(n))));
            let mut old_from = vec![false; old.len()];
            let mut work: Vec<reference::NodeId> =
                (0..old.len() as reference::NodeId).filter(|&n| source(old_key(n))).collect();
            for &n in &work {
                old_from[n as usize] = true;
            }
            while let Some(v) = work.pop() {
                for &(w, _) in old.successors(v) {
                    if !old_from[w as usize] {
                        old_from[w as usize] = true;
                        work.push(w);
                    }
                }
            }
            each(&|k, n, olds| {
                let want = olds.iter().any(|&o| old_from[o as usize]);
                assert_eq!(from[n as usize].is_some(), want, "reachable from the sources: {k:?} ({seed})");
            });
        }
    }

    /// Flows nested and called several times, asks and handlers inside them, flows called from
    /// handlers with asks of their own, a handler's `goto` out of every flow, `listen`,
    /// `resume`, `retry`, an action, a flow that never returns.
    const FLOWS: &str = r#"use std.zh.common
outcomes { bye }
action lookup {
  input { t: text }
  output { n: int }
}
flow leaf (t: text) {
  say "叶子{{t}}"
  ask "叶子问题?" retries 1 {
    on yes => { verify; return }
    on no => return
    on silence, unknown => retry
    on exhausted => hangup bye
  }
}
flow ends () {
  say "再见"
  hangup bye
}
flow mid (t: text) {
  step a {
    call leaf(t)
    say "中间{{t}}"
    do lookup(t = t) {
      on ok => { call leaf(t); goto b }
      on failed => goto b
    }
  }
  step b {
    ask "继续?" {
      on yes => return
      on optout => { optout; return }
      on dtmf "9" => call ends()
      on _ => transfer "q"
    }
  }
}
flow top () {
  call mid("x")
  sms "短信"
  call leaf("y")
}
script s {
  purpose service
  input { tail: text sensitive }
  outcomes { done }
  opening {
    say "您好,本次通话将被录音。"
    call top()
    goto core
  }
  core {
    step c1 {
      ask "还款吗?" {
        on yes => { call mid(tail); hangup done }
        on _ => goto c2
      }
    }
    step c2 {
      say "尾号{{tail}}"
      call ends()
    }
  }
  objection {
    on emotion angry, complaint => transfer "senior"
    on busy => { call mid("忙"); hangup done }
    on who => { say "我们是银行"; listen }
    on repeat => resume
    on no => goto c2
  }
}
"#;

    #[test]
    fn every_analysis_agrees_with_the_frame_based_graph() {
        let mut sources = vec![FLOWS.to_string(), nested(5)];
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        for dir in ["tests/cases/ok", "tests/cases/err", "tests/cases/conversation", "examples"] {
            let mut todo = vec![std::path::Path::new(root).join(dir)];
            while let Some(path) = todo.pop() {
                let Ok(entries) = std::fs::read_dir(&path) else { continue };
                for entry in entries.flatten() {
                    let p = entry.path();
                    if p.is_dir() {
                        todo.push(p);
                    } else if p.extension().is_some_and(|e| e == "call") {
                        sources.push(std::fs::read_to_string(&p).expect("readable"));
                    }
                }
            }
        }
        let mut checked = 0;
        for src in &sources {
            for code in scripts(src) {
                if !code.code.is_empty() {
                    same_as_reference(&code);
                    checked += 1;
                }
            }
        }
        assert!(checked > 30, "{checked} scripts");
        assert!(!scripts(FLOWS).is_empty(), "the flow script checks clean");
    }

    /// A small deterministic generator (xorshift) of scripts whose flows call each other (a DAG),
    /// with questions, `if`, `verify`, `optout`, `sms` inside flows, ends that return, hang up
    /// or transfer, and handlers that call flows, `goto`, `resume` and `listen`.
    fn random_script(seed: u64) -> String {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let flows = 2 + next(4);
        let mut id = 0;
        let mut uid = || {
            id += 1;
            id
        };
        fn end(i: usize, flows: usize, in_flow: bool, next: &mut dyn FnMut(usize) -> usize, n: usize) -> String {
            let mut options: Vec<String> = vec!["hangup done".into(), "transfer \"q\"".into()];
            if in_flow {
                options.extend([
                    "return".into(),
                    "{ verify; return }".into(),
                    format!("{{ say \"好{n}\"; return }}"),
                    "{ optout; return }".into(),
                ]);
                if i + 1 < flows {
                    options.push(format!("{{ call f{}(vip); return }}", i + 1 + next(flows - i - 1)));
                }
            }
            let k = next(options.len());
            options.swap_remove(k)
        }
        fn body(
            i: usize,
            flows: usize,
            depth: usize,
            next: &mut dyn FnMut(usize) -> usize,
            uid: &mut dyn FnMut() -> usize,
        ) -> Vec<String> {
            let mut out = Vec::new();
            for _ in 0..1 + next(4) {
                let line = match next(10) {
                    0 => format!("say \"话{}\"", uid()),
                    1 => "verify".to_string(),
                    2 | 3 if i + 1 < flows => format!("call f{}(vip)", i + 1 + next(flows - i - 1)),
                    4 if depth < 2 => {
                        let yes = body(i, flows, depth + 1, next, uid).join("; ");
                        let no = body(i, flows, depth + 1, next, uid).join("; ");
                        format!("if vip {{ {yes} }} else {{ {no} }}")
                    }
                    5 => "optout".to_string(),
                    6 => format!("sms \"短信{}\"", uid()),
                    7 | 8 => {
                        let n = uid();
                        let ends: Vec<String> = (0..3).map(|_| end(i, flows, true, next, uid())).collect();
                        format!(
                            "ask \"问{n}?\" retries 1 {{ on yes => {}; on no => {}; on silence, unknown => retry; on exhausted => {} }}",
                            ends[0], ends[1], ends[2]
                        )
                    }
                    _ => format!("say \"说{}\"", uid()),
                };
                out.push(line);
            }
            out
        }
        let mut src = String::from("use std.zh.common\noutcomes { done }\n");
        for i in 0..flows {
            src.push_str(&format!("flow f{i} (vip: bool) {{\n"));
            for line in body(i, flows, 0, &mut next, &mut uid) {
                src.push_str(&format!("  {line}\n"));
            }
            src.push_str("}\n");
        }
        let mut f = || next(flows);
        let (first, a, b, c, busy, optout) = (f(), f(), f(), f(), f(), f());
        src.push_str(&format!(
            "script s {{\n  purpose service\n  input {{ vip: bool }}\n  outcomes {{ fin }}\n  opening {{\n    say \"您好,本次通话将被录音。\"\n    call f{first}(vip)\n    goto core\n  }}\n  core {{\n    step a {{\n      call f{a}(vip)\n      ask \"继续?\" {{ on yes => goto b; on _ => {{ call f{b}(vip); hangup fin }} }}\n    }}\n    step b {{\n      call f{c}(vip)\n      hangup fin\n    }}\n  }}\n  objection {{\n"
        ));
        let mut handlers = vec![
            "on emotion angry, complaint => transfer \"senior\"".to_string(),
            "on who => { say \"银行\"; listen }".into(),
            "on repeat => resume".into(),
            format!("on busy => {{ call f{busy}(vip); hangup fin }}"),
            "on no => goto b".into(),
            format!("on optout => {{ optout; call f{optout}(vip); hangup fin }}"),
        ];
        for _ in 0..next(4) {
            let k = next(handlers.len());
            handlers.swap_remove(k);
        }
        for h in handlers {
            src.push_str(&format!("    {h}\n"));
        }
        src.push_str("  }\n}\n");
        src
    }

    #[test]
    fn every_analysis_agrees_with_the_frame_based_graph_on_generated_flows() {
        let mut checked = 0;
        for seed in 0..120 {
            let src = random_script(seed);
            let codes = scripts(&src);
            assert!(!codes.is_empty(), "seed {seed} does not check clean:\n{src}");
            for code in &codes {
                same_as_reference(code);
                checked += 1;
            }
        }
        assert_eq!(checked, 120);
    }

    use super::bench_flows::nested;

    #[test]
    fn nested_flows_are_analysed_once_each() {
        let src = nested(12);
        let checked = crate::check::check_source("nested.call", &src);
        let errors: Vec<_> = checked.diagnostics.iter().filter(|d| !d.code.starts_with('W')).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let code = &checked.programs[0].1.scripts[0];
        let cfg = Cfg::build(code);
        // Every instruction once, a listen node per ask, and the handler code once per ask.
        let handler_code = code.flows[0].pc - code.handlers.iter().map(|h| h.pc).min().unwrap();
        let flow_code = code.code.len() as u32 - code.flows[0].pc;
        assert!(handler_code < flow_code, "the handlers are a small part of the code");
        assert!(
            cfg.len() <= 2 * code.code.len() + code.asks.len() * handler_code as usize,
            "{} nodes for {} instructions",
            cfg.len(),
            code.code.len()
        );
        assert!(cfg.len() <= 4 * code.code.len(), "{} nodes for {} instructions", cfg.len(), code.code.len());
        // A copy per call chain had 2^12 - 1 copies of the flows' code.
        let copies = reference::Cfg::build(code).len();
        assert!(copies > 4095 * 4, "{copies}");
        // The analyses still see through every call: the deepest question is reached, and its
        // witness runs through twelve calls (each flow's first).
        let paths = cfg.shortest(|_| false);
        let last = code.flows.iter().find(|f| f.name == "f11").expect("the deepest flow").pc;
        let deepest = (0..cfg.len() as NodeId).find(|&n| {
            matches!(cfg.nodes[n as usize].at, At::Instr(pc) if pc > last)
                && matches!(cfg.instruction(code, n), Some(Instruction::Ask(_)))
        });
        let path = paths.to(&cfg, deepest.expect("the deepest ask is reached")).expect("a witness");
        assert_eq!(path.iter().filter(|(_, e, _)| *e == Edge::Call).count(), 12);
    }

    #[test]
    fn a_witness_through_deeply_nested_flows_stays_short() {
        let src = nested(24);
        let checked = crate::check::check_source("nested.call", &src);
        let code = &checked.programs[0].1.scripts[0];
        let cfg = Cfg::build(code);
        assert!(cfg.len() <= 4 * code.code.len());
        let paths = cfg.shortest(|_| false);
        // The call ends after the first flow returned: some 2^24 instructions later.
        let end = (0..cfg.len() as NodeId)
            .find(|&n| matches!(cfg.instruction(code, n), Some(Instruction::Hangup(_))))
            .expect("the hangup is reached");
        assert!(paths.distance(end).unwrap() > 1 << 24);
        let path = paths.to(&cfg, end).expect("a witness");
        assert!(path.len() < 2_000, "{} steps", path.len());
        let calls = path.iter().filter(|(_, e, _)| *e == Edge::Call).count();
        let returns = path.iter().filter(|(_, e, _)| *e == Edge::Return).count();
        assert_eq!(calls, returns, "each call shown returns");
        assert!(path.first().is_some_and(|&(from, _, _)| from == START) && path.last().unwrap().2 == end);
    }
}
