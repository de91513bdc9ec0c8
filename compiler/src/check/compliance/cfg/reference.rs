//! The graph as it was before flows had summaries, kept as the tests' oracle: every flow's
//! code copied per call chain (a *frame*), so each node runs under one known stack. Exponential
//! in the nesting of calls, exact on small scripts; `super::tests` compares every analysis of
//! the summarised graph with it.

use std::collections::{HashMap, VecDeque};

use crate::bytecode::{AskId, Instruction, ScriptCode};

pub type NodeId = u32;

/// Where a node is in the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum At {
    Instr(u32),
    /// The ask listening for an answer (its question has played).
    Listen(AskId),
}

/// Where code runs: the chain of calls above it (an index into the interned frames).
pub type FrameId = u32;

/// What tells nodes apart: place, handler context, frame.
type NodeKey = (At, Option<(AskId, FrameId)>, FrameId);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub at: At,
    /// For handler code: the (top-level) ask the handler interrupted, and its frame.
    pub ctx: Option<(AskId, FrameId)>,
    /// The calls this node runs under (0: none).
    pub frame: FrameId,
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
    /// Out of a flow, after its `call`.
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

pub struct Cfg {
    pub nodes: Vec<Node>,
    /// Successors of node `i`: `succ[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    succ: Vec<(NodeId, Edge)>,
    /// Interned frames: (the caller's frame, the `call`'s pc); frame 0 is the script's own.
    frames: Vec<(FrameId, u32)>,
}

/// The node the call starts at.
pub const START: NodeId = 0;

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
        let owner = retry_owners(code);
        let mut builder = Builder {
            code,
            n,
            handler_start,
            frames: vec![(0, u32::MAX)],
            frame_ids: HashMap::new(),
            ask_pc: &ask_pc,
            owner: &owner,
            ids: HashMap::new(),
            nodes: Vec::new(),
            queue: VecDeque::new(),
        };
        let mut cfg = Cfg { nodes: Vec::new(), start: vec![0], succ: Vec::new(), frames: Vec::new() };
        if n == 0 {
            return cfg;
        }
        builder.id(Node { at: At::Instr(0), ctx: None, frame: 0 });
        // Nodes get ids in breadth-first order, so their successor lists can be laid out in
        // id order as each node is taken from the queue.
        let mut next = 0u32;
        while let Some(id) = builder.queue.pop_front() {
            debug_assert_eq!(id, next);
            next += 1;
            let node = builder.nodes[id as usize];
            for (to, edge) in builder.successors(node) {
                let to = builder.id(to);
                cfg.succ.push((to, edge));
            }
            cfg.start.push(cfg.succ.len() as u32);
        }
        cfg.nodes = builder.nodes;
        cfg.frames = builder.frames;
        cfg
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn successors(&self, id: NodeId) -> &[(NodeId, Edge)] {
        &self.succ[self.start[id as usize] as usize..self.start[id as usize + 1] as usize]
    }

    /// Forward must-analysis over a lattice of up to 32 facts (bits): `result[n]` holds the
    /// facts true on every path from the start to `n` (before `n` runs); a node adds
    /// `adds(n)`. Iterated with a worklist to the greatest fixed point: every node's set only
    /// shrinks, so each node is revisited at most once per fact and the cost is linear in
    /// the graph. Unreachable nodes are never reached and keep every fact.
    pub fn must(&self, adds: impl Fn(NodeId) -> u32) -> Vec<u32> {
        let mut facts = vec![u32::MAX; self.len()];
        if self.is_empty() {
            return facts;
        }
        let mut seen = vec![false; self.len()];
        let mut work = VecDeque::from([START]);
        facts[START as usize] = 0;
        seen[START as usize] = true;
        while let Some(v) = work.pop_front() {
            let out = facts[v as usize] | adds(v);
            for &(w, _) in self.successors(v) {
                let before = facts[w as usize];
                // The start's facts stay empty: the call begins with nothing done.
                let after = if w == START { 0 } else { before & out };
                if after != before || !seen[w as usize] {
                    facts[w as usize] = after;
                    seen[w as usize] = true;
                    work.push_back(w);
                }
            }
        }
        facts
    }

    /// Breadth-first search from the start that does not go on from nodes where `stop` holds
    /// (they are reached, not passed): each reached node's predecessor on a shortest path.
    pub fn shortest(&self, stop: impl Fn(NodeId) -> bool) -> Paths {
        let mut pred = vec![None; self.len()];
        let mut dist = vec![u32::MAX; self.len()];
        if self.is_empty() {
            return Paths { pred, dist };
        }
        pred[START as usize] = Some((START, Edge::Next));
        dist[START as usize] = 0;
        let mut work = VecDeque::from([START]);
        while let Some(v) = work.pop_front() {
            if stop(v) {
                continue;
            }
            for &(w, edge) in self.successors(v) {
                if pred[w as usize].is_none() {
                    pred[w as usize] = Some((v, edge));
                    dist[w as usize] = dist[v as usize] + 1;
                    work.push_back(w);
                }
            }
        }
        Paths { pred, dist }
    }

    /// Backward analysis within one turn: `result[n]` is true when `n` can reach a node where
    /// `target` holds by edges that await no answer (fall-through, jumps, `if`).
    pub fn reaches_in_turn(&self, target: impl Fn(NodeId) -> bool) -> Vec<bool> {
        let preds = self.turn_predecessors();
        let mut reach = vec![false; self.len()];
        let mut work: Vec<NodeId> = (0..self.len() as NodeId).filter(|&n| target(n)).collect();
        for &n in &work {
            reach[n as usize] = true;
        }
        while let Some(v) = work.pop() {
            for &p in &preds[v as usize] {
                if !reach[p as usize] {
                    reach[p as usize] = true;
                    work.push(p);
                }
            }
        }
        reach
    }

    /// Backward must-analysis within one turn: `result[n]` is true when every way on from `n`
    /// passes a node where `target` holds before the turn ends (at `hangup`, `transfer`, an
    /// ask, `retry` or `resume`). Greatest fixed point: falsehood spreads back from the ends.
    pub fn always_in_turn(&self, target: impl Fn(NodeId) -> bool) -> Vec<bool> {
        let preds = self.turn_predecessors();
        let holds: Vec<bool> = (0..self.len() as NodeId).map(&target).collect();
        let mut always = vec![true; self.len()];
        let mut work = Vec::new();
        for n in 0..self.len() {
            if !holds[n] && !self.successors(n as NodeId).iter().any(|(_, e)| e.in_turn()) {
                always[n] = false;
                work.push(n as NodeId);
            }
        }
        while let Some(v) = work.pop() {
            for &p in &preds[v as usize] {
                if always[p as usize] && !holds[p as usize] {
                    always[p as usize] = false;
                    work.push(p);
                }
            }
        }
        always
    }

    fn turn_predecessors(&self) -> Vec<Vec<NodeId>> {
        let mut preds = vec![Vec::new(); self.len()];
        for v in 0..self.len() as NodeId {
            for &(w, edge) in self.successors(v) {
                if edge.in_turn() {
                    preds[w as usize].push(v);
                }
            }
        }
        preds
    }
}

/// Shortest paths from the start (see [`Cfg::shortest`]).
pub struct Paths {
    pred: Vec<Option<(NodeId, Edge)>>,
    dist: Vec<u32>,
}

impl Paths {
    pub fn reached(&self, n: NodeId) -> bool {
        self.pred[n as usize].is_some()
    }

    /// The number of edges from the start to `n`.
    pub fn distance(&self, n: NodeId) -> Option<u32> {
        self.reached(n).then(|| self.dist[n as usize])
    }
}

struct Builder<'c> {
    code: &'c ScriptCode,
    n: u32,
    handler_start: u32,
    frames: Vec<(FrameId, u32)>,
    frame_ids: HashMap<(FrameId, u32), FrameId>,
    ask_pc: &'c [u32],
    owner: &'c [Option<AskId>],
    ids: HashMap<NodeKey, NodeId>,
    nodes: Vec<Node>,
    queue: VecDeque<NodeId>,
}

type Ctx = Option<(AskId, FrameId)>;

impl Builder<'_> {
    fn id(&mut self, node: Node) -> NodeId {
        if let Some(&id) = self.ids.get(&(node.at, node.ctx, node.frame)) {
            return id;
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(node);
        self.ids.insert((node.at, node.ctx, node.frame), id);
        self.queue.push_back(id);
        id
    }

    /// The frame of a call at `pc` made in `frame`.
    fn frame(&mut self, frame: FrameId, pc: u32) -> FrameId {
        if let Some(&f) = self.frame_ids.get(&(frame, pc)) {
            return f;
        }
        let f = self.frames.len() as FrameId;
        self.frames.push((frame, pc));
        self.frame_ids.insert((frame, pc), f);
        f
    }

    /// The node at `pc` reached from code run for `ctx` in `frame`: the script's own code has
    /// no context and no frame (a handler's `goto` leaves every flow).
    fn at(&self, pc: u32, ctx: Ctx, frame: FrameId) -> Node {
        if pc >= self.handler_start {
            Node { at: At::Instr(pc), ctx, frame }
        } else {
            Node { at: At::Instr(pc), ctx: None, frame: 0 }
        }
    }

    /// Asking ask `a` again (run for `ctx` in `frame`): its question, or its listening after a
    /// reprompt.
    fn again(&self, a: AskId, ctx: Ctx, frame: FrameId, reprompt: bool) -> Node {
        let node = self.at(self.ask_pc[a as usize], ctx, frame);
        if reprompt { Node { at: At::Listen(a), ..node } } else { node }
    }

    fn successors(&mut self, node: Node) -> Vec<(Node, Edge)> {
        let ctx = node.ctx;
        let frame = node.frame;
        let pc = match node.at {
            At::Listen(a) => {
                let ask = &self.code.asks[a as usize];
                let mut out: Vec<(Node, Edge)> = ask
                    .branches
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (self.at(b.pc, ctx, frame), Edge::Branch(i as u16)))
                    .collect();
                // A handler interrupts the top-level ask: this one, or the one whose handler
                // this ask stands in; it runs in that ask's frame.
                let interrupted = ctx.unwrap_or((a, frame));
                out.extend(self.code.handlers.iter().enumerate().map(|(i, h)| {
                    let node = Node { at: At::Instr(h.pc), ctx: Some(interrupted), frame: interrupted.1 };
                    (node, Edge::Handler(i as u16))
                }));
                return out;
            }
            At::Instr(pc) => pc,
        };
        let next = |edge| if pc + 1 < self.n { vec![(self.at(pc + 1, ctx, frame), edge)] } else { Vec::new() };
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
            | Instruction::Optout => next(Edge::Next),
            Instruction::Do(d) => match self.code.dos.get(d as usize) {
                Some(d) => {
                    let mut out = next(Edge::Action(true));
                    if d.failed < self.n {
                        out.push((self.at(d.failed, ctx, frame), Edge::Action(false)));
                    }
                    out
                }
                None => Vec::new(),
            },
            Instruction::Jump(t) => vec![(self.at(t, ctx, frame), Edge::Jump)],
            Instruction::JumpUnless(_, t) => {
                let mut out = next(Edge::If(true));
                if t < self.n {
                    out.push((self.at(t, ctx, frame), Edge::If(false)));
                }
                out
            }
            Instruction::Ask(a) => vec![(Node { at: At::Listen(a), ctx, frame }, Edge::Listen)],
            Instruction::Retry(reprompt) => match self.owner[pc as usize] {
                Some(a) => vec![(self.again(a, ctx, frame, reprompt.is_some()), Edge::Retry)],
                // A retry directly in a handler counts against the interrupted ask.
                None => {
                    ctx.map(|(a, f)| (self.again(a, None, f, reprompt.is_some()), Edge::Retry)).into_iter().collect()
                }
            },
            Instruction::Resume => {
                ctx.map(|(a, f)| (self.again(a, None, f, false), Edge::Resume)).into_iter().collect()
            }
            Instruction::Listen(false) => match self.owner[pc as usize] {
                Some(a) => vec![(self.again(a, ctx, frame, true), Edge::Relisten)],
                None => Vec::new(),
            },
            Instruction::Listen(true) => {
                ctx.map(|(a, f)| (self.again(a, None, f, true), Edge::Relisten)).into_iter().collect()
            }
            Instruction::Call(f) => match self.code.flows.get(f as usize) {
                Some(flow) => {
                    let inner = self.frame(frame, pc);
                    vec![(Node { at: At::Instr(flow.pc), ctx, frame: inner }, Edge::Call)]
                }
                None => Vec::new(),
            },
            Instruction::Return => match self.frames.get(frame as usize) {
                Some(&(parent, call)) if frame != 0 && call + 1 < self.n => {
                    vec![(self.at(call + 1, ctx, parent), Edge::Return)]
                }
                _ => Vec::new(),
            },
            Instruction::Transfer(..) | Instruction::Hangup(_) => Vec::new(),
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
