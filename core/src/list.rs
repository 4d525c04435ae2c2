//! An intrusive, doubly linked list of pinned nodes, for one context only.
//!
//! Timers and waiters live inside the futures that wait on them; the list
//! links those futures' nodes in place, so joining and leaving a list never
//! allocates and leaving is O(1). The list and its nodes use `Cell`s: they
//! are touched only by the run loop's context (the types are `!Sync`).
//!
//! Safety rests on one rule, upheld by every owner of a node: **a node is
//! unlinked before its memory is invalidated** — owners are `!Unpin`
//! futures whose `Drop` unlinks, and pinning guarantees `Drop` runs before
//! the memory goes away.

use core::cell::Cell;
use core::marker::PhantomPinned;
use core::ptr;

/// A list entry carrying `T`. Must be pinned while linked.
pub(crate) struct Node<T> {
    prev: Cell<*const Node<T>>,
    next: Cell<*const Node<T>>,
    linked: Cell<bool>,
    pub(crate) value: T,
    /// Keeps the owner `!Unpin`, which also tells the aliasing model that
    /// the list may hold pointers to the node while the owner is borrowed
    /// mutably.
    _pin: PhantomPinned,
}

impl<T> Node<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            linked: Cell::new(false),
            value,
            _pin: PhantomPinned,
        }
    }

    /// `true` while the node is in a list.
    pub(crate) fn is_linked(&self) -> bool {
        self.linked.get()
    }
}

/// The two ends of an intrusive list.
pub(crate) struct List<T> {
    head: Cell<*const Node<T>>,
    tail: Cell<*const Node<T>>,
}

impl<T> List<T> {
    pub(crate) const fn new() -> Self {
        Self {
            head: Cell::new(ptr::null()),
            tail: Cell::new(ptr::null()),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_null()
    }

    /// Links `node` at the front.
    ///
    /// # Safety
    /// `node` is not linked, is pinned, and stays valid until it is removed
    /// (by [`remove`](Self::remove) or [`pop_front`](Self::pop_front)).
    pub(crate) unsafe fn push_front(&self, node: &Node<T>) {
        debug_assert!(!node.linked.get());
        let old = self.head.get();
        node.prev.set(ptr::null());
        node.next.set(old);
        if old.is_null() {
            self.tail.set(node);
        } else {
            // SAFETY: linked nodes are valid (the rule above).
            unsafe { (*old).prev.set(node) };
        }
        self.head.set(node);
        node.linked.set(true);
    }

    /// Links `node` at the back.
    ///
    /// # Safety
    /// As for [`push_front`](Self::push_front).
    pub(crate) unsafe fn push_back(&self, node: &Node<T>) {
        debug_assert!(!node.linked.get());
        let old = self.tail.get();
        node.next.set(ptr::null());
        node.prev.set(old);
        if old.is_null() {
            self.head.set(node);
        } else {
            // SAFETY: linked nodes are valid (the rule above).
            unsafe { (*old).next.set(node) };
        }
        self.tail.set(node);
        node.linked.set(true);
    }

    /// Unlinks `node`, which must be in this list.
    ///
    /// # Safety
    /// `node` is linked into `self`.
    pub(crate) unsafe fn remove(&self, node: &Node<T>) {
        debug_assert!(node.linked.get());
        let (prev, next) = (node.prev.get(), node.next.get());
        if prev.is_null() {
            self.head.set(next);
        } else {
            // SAFETY: linked nodes are valid.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.tail.set(prev);
        } else {
            // SAFETY: linked nodes are valid.
            unsafe { (*next).prev.set(prev) };
        }
        node.prev.set(ptr::null());
        node.next.set(ptr::null());
        node.linked.set(false);
    }

    /// Unlinks and returns the front node.
    pub(crate) fn pop_front(&self) -> Option<&Node<T>> {
        let head = self.head.get();
        if head.is_null() {
            return None;
        }
        // SAFETY: linked nodes are valid; the reference is used only until
        // the caller returns to code that could invalidate the node, which
        // must unlink it first — and it was just unlinked.
        let node = unsafe { &*head };
        // SAFETY: `node` is the head of this list.
        unsafe { self.remove(node) };
        Some(node)
    }
}
