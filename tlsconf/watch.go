package tlsconf

import (
	"context"
	"time"
)

// Watch polls the files of the configuration in use (mtime, size, inode)
// every interval until ctx ends, and reloads when one changed; onReload,
// when not nil, is called on Watch's goroutine after each attempt with its
// error (nil: reloaded, or found identical). A certificate replaced by
// writing a new file and renaming it over the old, as certbot and kubelet
// do, is picked up. After a failed attempt (say the new certificate is in
// place but its key not yet) the files are tried again only once they
// change again, so a broken file is reported once, not every interval.
//
// Watch blocks: run it on a goroutine whose owner cancels ctx and waits
// for it to return. It follows Reload: after a successful one, it watches
// the files of the new config. interval must be positive.
func (s *Server) Watch(ctx context.Context, interval time.Duration, onReload func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failed []stamp // the files as they were when a reload last failed
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := s.cur.Load()
		now := restat(cur.stamps)
		if stampsEqual(now, cur.stamps) || stampsEqual(now, failed) {
			continue
		}
		err := s.reloadInUse()
		if err != nil {
			failed = now
		} else {
			failed = nil
		}
		if onReload != nil {
			onReload(err)
		}
	}
}

// reloadInUse reloads the config the state in use was loaded from. It
// reads that config under s.mu, so that a Reload with a newer config that
// ran meanwhile is not undone.
func (s *Server) reloadInUse() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.cur.Load().cfg
	_, err := s.reload(&cfg)
	return err
}
