package stack

import (
	"context"
	"fmt"
)

// The application polls a mailbox from a thread of each of its containers,
// but only the container its database names in MailIn.Table does (see
// catalog.MailIn): these point that name at the container that serves, and
// take it away before the data is copied or left.

// pollWait bounds how long stackctl waits for a poll under way (its advisory
// lock): an IMAP server that stops answering mid-poll must not hang an
// upgrade that holds the stack's lock.
const pollWait = "120s"

// pointMailIn lets the application's container in slot of generation gen,
// the one that serves, poll the site's mailbox, alone: its host name is
// written, then the advisory lock a poll holds is taken and given back, so
// that a poll of the container named before has ended (a container stopped
// mid-poll could leave a mail taken but not flagged, taken again by the new
// one).
func (r Runner) pointMailIn(ctx context.Context, gen, slot int) error {
	st := r.Stack
	m := st.MailIn
	if m == nil || st.Generations == nil || r.Overrides.Mail.IMAP == nil {
		return nil
	}
	id, err := r.serviceContainer(ctx, st.Generations.AppService(gen, slot))
	if err != nil {
		return err
	}
	// The engine's host name of a container that sets none (the model sets none).
	host := id[:min(12, len(id))]
	sql := fmt.Sprintf("SET lock_timeout = '%[4]s'; CREATE TABLE IF NOT EXISTS %[1]s (host text NOT NULL); "+
		"BEGIN; DELETE FROM %[1]s; INSERT INTO %[1]s VALUES ('%[2]s'); COMMIT; "+
		"SELECT pg_advisory_lock(%[3]d); SELECT pg_advisory_unlock(%[3]d);", m.Table, host, m.LockKey, pollWait)
	if _, err := r.psql(ctx, gen, sql); err != nil {
		return fmt.Errorf("letting %s poll mail for stack %s (a poll under way is waited for, at most %s): %w", host, st.Name, pollWait, err)
	}
	return nil
}

// pauseMailIn stops the polling into generation gen's data and waits for a
// poll under way to end: from its return, no mail goes into that data until
// pointMailIn. The name goes first, committed; then the advisory lock a poll
// holds is taken and given back, which waits for the poll that holds it. It
// does not ask the settings: a container started with incoming mail polls
// whatever the settings say now. Data without the table was never polled.
func (r Runner) pauseMailIn(ctx context.Context, gen int) error {
	st := r.Stack
	m := st.MailIn
	if m == nil || st.Generations == nil {
		return nil
	}
	sql := fmt.Sprintf("SET lock_timeout = '%[3]s'; "+
		"DO $$BEGIN IF to_regclass('%[1]s') IS NOT NULL THEN DELETE FROM %[1]s; END IF; END$$; "+
		"SELECT pg_advisory_lock(%[2]d); SELECT pg_advisory_unlock(%[2]d);", m.Table, m.LockKey, pollWait)
	if _, err := r.psql(ctx, gen, sql); err != nil {
		return fmt.Errorf("stopping stack %s's mail polling (a poll under way is waited for, at most %s): %w", st.Name, pollWait, err)
	}
	return nil
}
