package tenure

import "context"

type urgentKey struct{}

// Urgent marks ctx as the kill switch's own work: a lock's or a leaver's
// disables. Resources that work queues for, such as the read model's one
// SQLite writer, serve it ahead of everything waiting.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// IsUrgent reports whether ctx was marked by Urgent.
func IsUrgent(ctx context.Context) bool {
	u, _ := ctx.Value(urgentKey{}).(bool)
	return u
}
