package store

import (
	"context"
	"database/sql"
	"slices"
	"sync"

	"github.com/tenure-io/tenure"
)

// gatedPool is the SQLite read model's one writing connection as gorm uses
// it, with a gate in front: whoever passes the gate is next to ask for the
// connection, and urgent work (tenure.Urgent) passes ahead of everything
// waiting, the rest in turn. Without it, database/sql hands a freed
// connection to a waiter at random, and a lock's writes during a bulk
// onboarding wait behind hundreds of joiners' writes.
//
// The gate is held while a statement runs, and until a query or a
// transaction has its connection: its rows or its transaction then keep the
// connection, and the next writer, through the gate already, waits for it in
// database/sql, alone.
type gatedPool struct {
	db   *sql.DB
	gate gate
}

func (p *gatedPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := p.gate.enter(ctx); err != nil {
		return nil, err
	}
	defer p.gate.leave()
	return p.db.PrepareContext(ctx, query)
}

func (p *gatedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := p.gate.enter(ctx); err != nil {
		return nil, err
	}
	defer p.gate.leave()
	return p.db.ExecContext(ctx, query, args...)
}

func (p *gatedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := p.gate.enter(ctx); err != nil {
		return nil, err
	}
	defer p.gate.leave()
	return p.db.QueryContext(ctx, query, args...)
}

func (p *gatedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := p.gate.enter(ctx); err != nil {
		// The context is done: the row carries its error.
		return p.db.QueryRowContext(ctx, query, args...)
	}
	defer p.gate.leave()
	return p.db.QueryRowContext(ctx, query, args...)
}

func (p *gatedPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	if err := p.gate.enter(ctx); err != nil {
		return nil, err
	}
	defer p.gate.leave()
	return p.db.BeginTx(ctx, opts)
}

// GetDBConn is how gorm finds the *sql.DB (gorm.GetDBConnector).
func (p *gatedPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

// gate lets one caller through at a time: urgent ones first, each kind in
// the order it came.
type gate struct {
	mu           sync.Mutex
	held         bool
	urgent, rest []chan struct{}
}

// enter waits for the caller's turn, or for ctx to be done.
func (g *gate) enter(ctx context.Context) error {
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	if tenure.IsUrgent(ctx) {
		g.urgent = append(g.urgent, turn)
	} else {
		g.rest = append(g.rest, turn)
	}
	g.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		before := len(g.urgent) + len(g.rest)
		mine := func(c chan struct{}) bool { return c == turn }
		g.urgent, g.rest = slices.DeleteFunc(g.urgent, mine), slices.DeleteFunc(g.rest, mine)
		waiting := len(g.urgent)+len(g.rest) < before
		g.mu.Unlock()
		if !waiting {
			// The turn came as ctx ended: pass it on.
			g.leave()
		}
		return ctx.Err()
	}
}

// leave hands the gate to the next caller waiting, urgent ones first.
func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	var next chan struct{}
	switch {
	case len(g.urgent) > 0:
		next, g.urgent = g.urgent[0], g.urgent[1:]
	case len(g.rest) > 0:
		next, g.rest = g.rest[0], g.rest[1:]
	default:
		g.held = false
		return
	}
	close(next)
}
