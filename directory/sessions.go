package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/store"
)

// A session cookie holds "<16 hex id>.<43 base64url secret>"; the store
// keeps the SHA-256 of the secret.
const sessionIDLen = 16

// SplitSessionCookie splits a session cookie value into id and secret.
func SplitSessionCookie(v string) (id, secret string, ok bool) {
	if len(v) < sessionIDLen+2 || v[sessionIDLen] != '.' {
		return "", "", false
	}
	return v[:sessionIDLen], v[sessionIDLen+1:], true
}

// NewSession describes a session to create after a sign-in.
type NewSession struct {
	TenantID  int64
	UserID    string
	Lifetime  time.Duration // absolute
	IDToken   string
	UserAgent string
	Remote    string
}

// CreateSession stores a new session and returns the cookie value. The user
// must exist and be active.
func (s *Service) CreateSession(ctx context.Context, n NewSession) (string, store.Session, error) {
	var raw [8 + 32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", store.Session{}, fmt.Errorf("generate session: %w", err)
	}
	id := hex.EncodeToString(raw[:8])
	secret := base64.RawURLEncoding.EncodeToString(raw[8:])
	sum := sha256.Sum256([]byte(secret))
	var sess store.Session
	err := s.update(ctx, func(tx store.Tx) error {
		u, err := tx.Resource(ctx, n.TenantID, store.TypeUser, n.UserID)
		if err != nil {
			return fmt.Errorf("session owner: %w", err)
		}
		if !u.Active {
			return errors.New("session owner is not active")
		}
		now := s.now().UTC()
		sess = store.Session{ID: id, TenantID: n.TenantID, UserID: n.UserID, Hash: sum[:], Created: now, LastSeen: now,
			Expires: now.Add(n.Lifetime), IDToken: n.IDToken, UserAgent: truncate(n.UserAgent, 256), Remote: n.Remote}
		if err := tx.PutSession(ctx, sess); err != nil {
			return err
		}
		return tx.AppendChange(ctx, &store.Change{TenantID: n.TenantID, At: now, Actor: "sign-in", ResourceType: store.TypeSession,
			ResourceID: id, Op: store.OpCreate, After: sessionEvent(sess)})
	})
	if err != nil {
		return "", store.Session{}, fmt.Errorf("create session: %w", err)
	}
	return id + "." + secret, sess, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func sessionEvent(s store.Session) []byte {
	return marshalJSON(map[string]any{"id": s.ID, "user_id": s.UserID, "expires": s.Expires.Format(time.RFC3339),
		"remote": s.Remote, "user_agent": s.UserAgent})
}

// VerifySession checks a session cookie against the store: the session
// exists, the secret matches in constant time, and it is neither revoked
// nor expired.
func (s *Service) VerifySession(ctx context.Context, cookie string) (store.Session, bool) {
	id, secret, ok := SplitSessionCookie(cookie)
	if !ok {
		return store.Session{}, false
	}
	var sess store.Session
	err := s.view(ctx, func(tx store.ReadTx) (err error) {
		sess, err = tx.Session(ctx, id)
		return err
	})
	sum := sha256.Sum256([]byte(secret))
	if err != nil || subtle.ConstantTimeCompare(sess.Hash, sum[:]) != 1 || !sess.Revoked.IsZero() || !s.now().Before(sess.Expires) {
		return store.Session{}, false
	}
	return sess, true
}

// RevokeSession revokes one session (sign-out).
func (s *Service) RevokeSession(ctx context.Context, id, actor string) error {
	return s.update(ctx, func(tx store.Tx) error {
		sess, err := tx.Session(ctx, id)
		if err != nil {
			return err
		}
		return s.revokeSession(ctx, tx, sess, actor)
	})
}

func (s *Service) revokeSession(ctx context.Context, tx store.Tx, sess store.Session, actor string) error {
	now := s.now().UTC()
	if err := tx.RevokeSession(ctx, sess.ID, now); err != nil {
		return err
	}
	return tx.AppendChange(ctx, &store.Change{TenantID: sess.TenantID, At: now, Actor: actor, ResourceType: store.TypeSession,
		ResourceID: sess.ID, Op: store.OpRevoke, Before: sessionEvent(sess)})
}

// SessionsKeptFor is how long an ended session (expired or revoked) stays
// in the store, listed by `sessions list`, before PurgeSessions deletes
// it.
const SessionsKeptFor = 24 * time.Hour

// purgeBatch is how many sessions one transaction of PurgeSessions
// deletes at most (a variable for tests).
var purgeBatch = 1000

// PurgeSessions deletes at most limit sessions that ended (expired or
// revoked) before before, in transactions of at most purgeBatch, each
// with a change event per session (op delete, by actor "retention"),
// which takes it out of every snapshot. It returns how many it deleted.
func (s *Service) PurgeSessions(ctx context.Context, before time.Time, limit int) (int, error) {
	total := 0
	for total < limit {
		batch := min(purgeBatch, limit-total)
		n := 0
		err := s.update(ctx, func(tx store.Tx) error {
			gone, err := tx.PurgeSessions(ctx, before, batch)
			if err != nil {
				return err
			}
			now := s.now().UTC()
			for _, sess := range gone {
				if err := tx.AppendChange(ctx, &store.Change{TenantID: sess.TenantID, At: now, Actor: "retention",
					ResourceType: store.TypeSession, ResourceID: sess.ID, Op: store.OpDelete, Before: sessionEvent(sess)}); err != nil {
					return err
				}
			}
			n = len(gone)
			return nil
		})
		if err != nil {
			return total, err
		}
		if total += n; n < batch {
			return total, nil
		}
	}
	return total, nil
}

// purgePerRun bounds one run of RunSessionPurge: the first one after an
// upgrade may find every session ever ended, and each deleted session is
// a change event that audit exports deliver.
const purgePerRun = 20_000

// RunSessionPurge purges the sessions that ended more than
// SessionsKeptFor ago, now and then every interval, until ctx ends.
func (s *Service) RunSessionPurge(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		before := s.now().Add(-SessionsKeptFor)
		n, err := s.PurgeSessions(ctx, before, purgePerRun)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("purge ended sessions", "err", err)
		case n > 0:
			s.log.Info("ended sessions purged", "sessions", n, "ended_before", before.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SessionInfo is a session with its owner's names, for listings.
type SessionInfo struct {
	store.Session
	Tenant   string
	UserName string
}

// Sessions lists the sessions of a user (by userName).
func (s *Service) Sessions(ctx context.Context, tenant, userName string) ([]SessionInfo, error) {
	var out []SessionInfo
	err := s.view(ctx, func(tx store.ReadTx) error {
		tn, u, err := findUser(ctx, tx, tenant, userName)
		if err != nil {
			return err
		}
		list, err := tx.Sessions(ctx, tn.ID, u.ID)
		for _, sess := range list {
			out = append(out, SessionInfo{Session: sess, Tenant: tn.Name, UserName: userName})
		}
		return err
	})
	return out, err
}

// RevokeUserSessions revokes every live session of a user and returns how
// many it revoked.
func (s *Service) RevokeUserSessions(ctx context.Context, tenant, userName, actor string) (int, error) {
	n := 0
	err := s.update(ctx, func(tx store.Tx) error {
		tn, u, err := findUser(ctx, tx, tenant, userName)
		if err != nil {
			return err
		}
		list, err := tx.Sessions(ctx, tn.ID, u.ID)
		if err != nil {
			return err
		}
		for _, sess := range list {
			if !sess.Revoked.IsZero() {
				continue
			}
			if err := s.revokeSession(ctx, tx, sess, actor); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// TouchSessions records the last activity of sessions, in one write.
func (s *Service) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	return s.update(ctx, func(tx store.Tx) error {
		for id, at := range seen {
			if err := tx.TouchSession(ctx, id, at.UTC()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
}

// FindUserBy finds the user whose attribute (userName, externalId or
// email) has a value, in the named tenant or, when tenant is empty, in the
// one tenant that has such a user. Emails and userNames match
// case-insensitively.
func (s *Service) FindUserBy(ctx context.Context, tenant, attribute, value string) (store.Tenant, *store.Resource, error) {
	if attribute == "" || strings.EqualFold(attribute, "userName") {
		return s.FindUser(ctx, tenant, value)
	}
	var foundT store.Tenant
	var found *store.Resource
	err := s.view(ctx, func(tx store.ReadTx) error {
		tenants, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, tn := range tenants {
			if tenant != "" && tn.Name != tenant {
				continue
			}
			var rs []*store.Resource
			switch strings.ToLower(attribute) {
			case "externalid":
				rs, err = tx.ResourcesByExternalID(ctx, tn.ID, store.TypeUser, value)
			case "email":
				err = tx.ScanResources(ctx, tn.ID, store.TypeUser, func(r *store.Resource) error {
					if hasEmail(r.Doc, value) {
						rs = append(rs, r)
					}
					return nil
				})
			default:
				return fmt.Errorf("unknown user attribute %q", attribute)
			}
			if err != nil {
				return err
			}
			for _, r := range rs {
				foundT, found = tn, r
				n++
			}
		}
		switch {
		case n == 0:
			return fmt.Errorf("no user with %s %q: %w", attribute, value, store.ErrNotFound)
		case n > 1:
			return fmt.Errorf("%d users have %s %q", n, attribute, value)
		}
		return nil
	})
	return foundT, found, err
}

func hasEmail(doc []byte, email string) bool {
	d, err := decodeDoc(doc)
	if err != nil {
		return false
	}
	list, _ := d["emails"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if v, _ := m["value"].(string); strings.EqualFold(v, email) {
			return true
		}
	}
	return false
}
