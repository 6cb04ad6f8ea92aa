package policy

import (
	"time"
)

// This file reads the lifecycle's own keys. Today that is mover_grace: how
// long a mover keeps the old role's access, as a durable timer in the person's
// workflow, before it is revoked. The default, 0, revokes at once.

// MoverGrace is how long a mover keeps the access of the role they left.
func (p *Policy) MoverGrace() time.Duration { return p.moverGrace }

// lifecycle reads the top-level lifecycle keys into pol.
func (p *parser) lifecycle(top map[string]field, pol *Policy) {
	v, ok := top["mover_grace"]
	if !ok {
		return
	}
	s, ok := p.str(v.val, "mover_grace")
	if !ok {
		return
	}
	// 0 (or 0s, 0h) says no grace, as leaving the key out does.
	if d, err := time.ParseDuration(s); err == nil && d == 0 {
		return
	}
	if d, err := parseDuration(s); err != nil {
		p.errorf(v.val, "mover_grace: bad duration %q: %v, or 0 for none", s, err)
	} else {
		pol.moverGrace = d
	}
}
