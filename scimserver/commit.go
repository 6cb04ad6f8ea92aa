package scimserver

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"time"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/scimserver/directory"
)

// change is one user's change within a request: a create (old nil), an update,
// or a delete.
type change struct {
	old *directory.User
	new directory.User
	del bool
}

// commit makes a request's changes happen. Every new state is checked first and
// a bad one refuses the whole request with nothing written or sent. Then the
// blast-radius guard sees the events: those it holds are recorded, held, and
// wait for an admin. Each other event goes through intake (validated, recorded,
// handed to the person's workflow once), and only then is the directory
// written, in one transaction with the groups: the identity provider's view
// is kept whether or not its events were held. A request that fails after some
// events were accepted writes nothing; its retry makes the same events with
// the same IDs, which intake (and the guard) recognise, and then writes.
func (s *Server) commit(ctx context.Context, changes []change, groups []directory.GroupWrite) error {
	var (
		events []tenure.Event
		w      directory.Write
	)
	now := s.now().UTC()
	for _, c := range changes {
		ev, uw, skip, err := s.plan(ctx, c, now)
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		if ev != nil {
			events = append(events, *ev)
		}
		w.Users = append(w.Users, uw)
	}
	w.Groups = groups
	if len(w.Users) == 0 && len(w.Groups) == 0 {
		return nil
	}
	for _, ev := range events {
		if err := intake.ValidateEvent(ev); err != nil {
			return err
		}
	}
	if len(events) > 0 {
		v, err := s.guard.Events(ctx, guard.Bulk{Source: guard.SourceSCIM, Operation: events[0].ID, Actor: caller(ctx)}, events)
		if err != nil {
			return tenure.Unavailable("the guard", err)
		}
		for i, ev := range events {
			if v.HoldOf[i] != "" {
				continue
			}
			if _, err := s.intake.Accept(ctx, ev); err != nil {
				return err
			}
		}
	}
	return s.dir.WriteSCIM(ctx, w)
}

// plan works out what one change writes and which event, if any, it sends.
// skip is true when the change changes nothing.
func (s *Server) plan(ctx context.Context, c change, now time.Time) (*tenure.Event, directory.UserWrite, bool, error) {
	if c.del {
		old := *c.old
		uw := directory.UserWrite{User: old, Prev: old.Version, Delete: true}
		if !old.Active || !old.Hired {
			return nil, uw, false, nil
		}
		p, err := s.person(ctx, old)
		if err != nil {
			return nil, uw, false, err
		}
		return s.event(old.ID, old.Version+1, tenure.EventTerminate, p, now), uw, false, nil
	}

	u := c.new
	p, err := s.person(ctx, u)
	if err != nil {
		return nil, directory.UserWrite{}, false, err
	}
	if err := checkPerson(p); err != nil {
		return nil, directory.UserWrite{}, false, err
	}
	if c.old == nil {
		u.Version, u.CreatedAt, u.UpdatedAt = 1, now, now
		uw := directory.UserWrite{User: u}
		if !u.Active {
			// Nobody to provision yet; activating the user later hires them.
			return nil, uw, false, nil
		}
		typ := tenure.EventHire
		if e, err := s.store.GetEmployee(ctx, u.HRID); err == nil && e.Status == tenure.PersonTerminated {
			typ = tenure.EventRehire
		} else if err != nil && tenure.ErrorCode(err) != tenure.ENOTFOUND {
			return nil, uw, false, err
		}
		uw.User.Hired = true
		return s.event(u.ID, 1, typ, p, now), uw, false, nil
	}

	old := *c.old
	u.HRID, u.Hired, u.CreatedAt = old.HRID, old.Hired, old.CreatedAt
	if sameUser(old, u) {
		return nil, directory.UserWrite{}, true, nil
	}
	u.Version, u.UpdatedAt = old.Version+1, now
	uw := directory.UserWrite{User: u, Prev: old.Version}
	var typ tenure.EventType
	switch {
	case !old.Active && u.Active:
		typ = tenure.EventHire
		if old.Hired {
			typ = tenure.EventRehire
		}
		uw.User.Hired = true
	case !u.Active || !old.Hired:
		if old.Active && old.Hired {
			typ = tenure.EventTerminate
		}
	default:
		oldP, err := s.person(ctx, old)
		if err != nil {
			return nil, uw, false, err
		}
		if !reflect.DeepEqual(oldP, p) {
			typ = tenure.EventUpdate
		}
	}
	if typ == "" {
		return nil, uw, false, nil
	}
	return s.event(u.ID, u.Version, typ, p, now), uw, false, nil
}

func (s *Server) event(userID string, version int, typ tenure.EventType, p tenure.Person, now time.Time) *tenure.Event {
	return &tenure.Event{ID: eventID(userID, version, typ, p), Type: typ, Employee: p, ReceivedAt: now}
}

// scimError turns an error into the SCIM error the library writes. Internal
// errors are logged and shown as "internal error".
func (s *Server) scimError(ctx context.Context, err error) error {
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se
	}
	switch tenure.ErrorCode(err) {
	case tenure.EINVALID:
		return invalidValue(tenure.ErrorMessage(err))
	case tenure.ECONFLICT:
		return scimerr.ScimError{ScimType: scimerr.ScimTypeUniqueness, Detail: tenure.ErrorMessage(err), Status: http.StatusConflict}
	case tenure.ENOTFOUND:
		return scimerr.ScimError{Detail: tenure.ErrorMessage(err), Status: http.StatusNotFound}
	case tenure.EUNAVAILABLE:
		// The library sends no 503; a 500 is retried by identity providers too.
		s.log.WarnContext(ctx, "scim: a dependency is unavailable", "error", err.Error())
		return scimerr.ScimError{Detail: tenure.ErrorMessage(err), Status: http.StatusInternalServerError}
	}
	s.log.ErrorContext(ctx, "scim: request failed", "error", err.Error())
	return scimerr.ScimError{Detail: "internal error", Status: http.StatusInternalServerError}
}
