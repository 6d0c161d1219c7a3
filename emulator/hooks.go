package emulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// deliveryTimeout is how long GitHub waits for a webhook receiver.
const deliveryTimeout = 10 * time.Second

// Delivery is one webhook request and what came of it, as GitHub's
// "Recent Deliveries" page shows it.
type Delivery struct {
	// ID is the delivery's id in GitHub's deliveries API; each attempt,
	// a redelivery too, has its own, and they share the GUID.
	ID         int64
	GUID       string
	Event      string // X-GitHub-Event
	Action     string // the payload's "action", if any
	Repo       string // "owner/name"; "" for app-level events such as installation
	Payload    []byte
	Header     http.Header // request headers sent
	Redelivery bool
	// InstallationID and RepoID are the payload's installation.id and
	// repository.id (0 when absent), as the deliveries API reports them.
	InstallationID, RepoID int64

	// Done is false while the delivery waits in the queue.
	Done        bool
	StatusCode  int    // 0 if no response
	Response    string // response body, truncated to 64 KiB
	Err         string // transport error, or "no webhook URL"
	DeliveredAt time.Time
	Duration    time.Duration
}

// OK says whether the receiver answered 2xx.
func (d Delivery) OK() bool { return d.StatusCode >= 200 && d.StatusCode < 300 }

type hookQueue struct {
	s      *Server
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	url        string
	hookID     int64
	nextID     int64 // the last delivery id handed out
	deliveries []*Delivery
	pending    map[string][]*Delivery // by repo key; "" for app-level
	running    map[string]bool
	inFlight   int
	idle       chan struct{} // closed when inFlight drops to zero
	closed     bool
}

func newHookQueue(s *Server) *hookQueue {
	ctx, cancel := context.WithCancel(context.Background())
	return &hookQueue{
		s:       s,
		client:  &http.Client{Timeout: deliveryTimeout},
		ctx:     ctx,
		cancel:  cancel,
		url:     s.opts.WebhookURL,
		hookID:  s.opts.AppID*1000 + 1,
		pending: map[string][]*Delivery{},
		running: map[string]bool{},
	}
}

// SetWebhookURL changes where later deliveries (and redeliveries) go.
func (s *Server) SetWebhookURL(u string) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.url = u
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// send queues an event for delivery. key orders deliveries: those with the
// same key (the repo) arrive in the order they were sent, while a slow
// receiver for one repo does not hold up another.
func (q *hookQueue) send(event, key string, payload any) {
	if !q.s.subscribed(event) {
		// GitHub neither sends nor lists an event the app did not ask for.
		return
	}
	body, err := shape(payload)
	if err != nil {
		q.s.log.Error("emulator: encode webhook", "event", event, "err", err)
		return
	}
	var head struct {
		Action     string `json:"action"`
		Repository struct {
			ID       int64  `json:"id"`
			FullName string `json:"full_name"`
		} `json:"repository"`
		Installation struct {
			ID int64 `json:"id"`
		} `json:"installation"`
	}
	_ = json.Unmarshal(body, &head) // our own JSON: it decodes
	d := &Delivery{GUID: newGUID(), Event: event, Action: head.Action, Repo: head.Repository.FullName, Payload: body,
		InstallationID: head.Installation.ID, RepoID: head.Repository.ID}
	q.enqueue(key, d)
}

func (q *hookQueue) enqueue(key string, d *Delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.nextID++
	d.ID = q.nextID
	q.deliveries = append(q.deliveries, d)
	q.pending[key] = append(q.pending[key], d)
	if q.inFlight == 0 {
		q.idle = make(chan struct{})
	}
	q.inFlight++
	if !q.running[key] {
		q.running[key] = true
		go q.drain(key)
	}
}

// drain delivers one key's queue in order, then exits.
func (q *hookQueue) drain(key string) {
	for {
		q.mu.Lock()
		list := q.pending[key]
		if len(list) == 0 || q.closed {
			delete(q.pending, key)
			q.running[key] = false
			q.mu.Unlock()
			return
		}
		d := list[0]
		q.pending[key] = list[1:]
		url := q.url
		q.mu.Unlock()

		q.deliver(d, url)

		q.mu.Lock()
		q.inFlight--
		if q.inFlight == 0 {
			close(q.idle)
		}
		q.mu.Unlock()
	}
}

func (q *hookQueue) deliver(d *Delivery, url string) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/emulator")
	h.Set("X-GitHub-Event", d.Event)
	h.Set("X-GitHub-Delivery", d.GUID)
	h.Set("X-GitHub-Hook-ID", strconv.FormatInt(q.hookID, 10))
	h.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	h.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(q.s.opts.AppID, 10))
	if secret := q.s.opts.WebhookSecret; secret != "" {
		h.Set("X-Hub-Signature-256", "sha256="+sign(sha256.New, secret, d.Payload))
		h.Set("X-Hub-Signature", "sha1="+sign(sha1.New, secret, d.Payload))
	}
	start := q.s.now()
	status, resp, errMsg := 0, "", ""
	if url == "" {
		errMsg = "no webhook URL"
	} else {
		status, resp, errMsg = q.post(url, h, d.Payload)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	d.Header = h
	d.Done, d.StatusCode, d.Response, d.Err = true, status, resp, errMsg
	d.DeliveredAt, d.Duration = start, q.s.now().Sub(start)
	if !d.OK() {
		q.s.log.Warn("emulator: webhook delivery failed", "event", d.Event, "guid", d.GUID, "status", status, "err", errMsg)
	}
}

func (q *hookQueue) post(url string, h http.Header, body []byte) (int, string, string) {
	req, err := http.NewRequestWithContext(q.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err.Error()
	}
	req.Header = h.Clone()
	res, err := q.client.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, string(b), ""
}

func sign(h func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (q *hookQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
}

// Deliveries returns copies of every delivery so far, oldest first,
// including queued ones (Done false).
func (s *Server) Deliveries() []Delivery {
	q := s.hooks
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Delivery, 0, len(q.deliveries))
	for _, d := range q.deliveries {
		c := *d
		c.Payload = append([]byte(nil), d.Payload...)
		c.Header = d.Header.Clone()
		out = append(out, c)
	}
	return out
}

// Redeliver sends a delivery again with the same GUID and payload, as
// GitHub's "Redeliver" button does, and records it as a new delivery.
func (s *Server) Redeliver(guid string) error {
	q := s.hooks
	q.mu.Lock()
	var orig *Delivery
	for _, d := range q.deliveries {
		if d.GUID == guid {
			orig = d
		}
	}
	q.mu.Unlock()
	if orig == nil {
		return fmt.Errorf("emulator: redeliver %s: no such delivery", guid)
	}
	key := ""
	s.mu.Lock()
	if rp := s.repos[lower(orig.Repo)]; rp != nil {
		key = rp.key()
	}
	s.mu.Unlock()
	q.enqueue(key, &Delivery{GUID: orig.GUID, Event: orig.Event, Action: orig.Action, Repo: orig.Repo, Payload: orig.Payload, Redelivery: true,
		InstallationID: orig.InstallationID, RepoID: orig.RepoID})
	return nil
}

// WaitDeliveries blocks until every queued delivery has been attempted.
func (s *Server) WaitDeliveries(ctx context.Context) error {
	q := s.hooks
	for {
		q.mu.Lock()
		if q.inFlight == 0 || q.closed {
			q.mu.Unlock()
			return nil
		}
		idle := q.idle
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("emulator: wait for deliveries: %w", ctx.Err())
		case <-idle:
		}
	}
}
