package stack

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
)

// Plan is what up (a restore, a rollback, an upgrade) does, in order,
// computed from what runs and what is wanted before anything changes:
// printed by --dry-run, followed by the command.
type Plan struct {
	Stack   string          `json:"stack"`
	Where   string          `json:"where"`
	Profile catalog.Profile `json:"profile"`
	// ProfileReason says why that profile.
	ProfileReason string `json:"profile_reason"`
	Steps         []Step `json:"steps"`
	Outage        Outage `json:"outage"`
	// Serves is what serves once up is done.
	Serves Serves `json:"serves"`

	// What up's execution acts on: what changed of the application and of
	// the front that is handed over, of the front that is recreated with its
	// edge, and of the database that is recreated behind the maintenance page.
	handApp, handFront, recreateFront, closeForDB string
	// keepEdge leaves the edge on the image it runs (see KeptEdge).
	keepEdge bool
	// What a new generation's or a rollback's execution acts on.
	next decided
	// On a swarm: the node to label as the data node, and the services a
	// deploy leaves as they run.
	labelNode string
	swarmKeep []string
}

// KeptEdge says why the edge keeps its image when only that changed.
const KeptEdge = "its image changed, but it only holds nginx's port (a sleeping shell, nothing it serves): " +
	"recreating it would refuse connections, so it keeps its image until it is recreated for another reason, or by 'stackctl down' and 'up'"

// Step is one thing up (restore, rollback, upgrade) does.
type Step struct {
	// Action is one of: recover, remove, build-base, build, create, start,
	// recreate, hand-over, close, open, first-start, point-front, https, none;
	// for a new generation or a rollback also make, skip, fill, copy, migrate,
	// check, stop, deploy, keep; for an upgrade backup; on a swarm also push,
	// label, update, scale, wait.
	Action string `json:"action"`
	Target string `json:"target"`
	Why    string `json:"why,omitempty"`
}

// Outage says whether the tracker is unreachable during up, and how.
type Outage struct {
	// Closes: users get the maintenance page (HTTP 503 with Retry-After).
	Closes bool `json:"closes"`
	// Refuses: new connections are refused for a moment.
	Refuses bool `json:"refuses"`
	// Stops: the application stops and starts again on other data (a restore
	// or a rollback on a swarm): the tracker does not answer meanwhile.
	Stops bool `json:"stops"`
	// Fails: requests get errors, with no maintenance page (a swarm's database replaced).
	Fails bool   `json:"fails"`
	Why   string `json:"why,omitempty"`
	For   string `json:"for,omitempty"`
}

// Serves is the generation and slots that serve after up.
type Serves struct {
	Generation int    `json:"generation,omitempty"`
	App        string `json:"app,omitempty"`
	Front      string `json:"front,omitempty"`
}

// planUp decides what up does from obs, a pure function of it: the
// leftovers of a stopped stackctl first, then the bases and images, then for
// a stack that serves, each change handed over without an outage where it
// can be (the application beside the old one, the front on the same port),
// the database recreated behind the maintenance page; for one that does not
// serve, what is missing or changed is (re)created.
func planUp(obs observation) Plan {
	st := obs.Stack
	p := Plan{Stack: st.Name, Where: obs.Where, Profile: obs.Choice.Profile, ProfileReason: obs.Choice.Reason}
	p.Steps = append(p.Steps, obs.Leftovers...)
	for _, b := range obs.Bases {
		p.Steps = append(p.Steps, Step{Action: "build-base", Target: b.Name, Why: b.Why})
	}
	for _, i := range obs.Images {
		p.Steps = append(p.Steps, Step{Action: "build", Target: i.Name, Why: i.Why})
	}
	g := st.Generations
	slot, frontSlot := obs.Slot, obs.FrontSlot
	handsOver := g != nil && obs.Ready && obs.Serving && !obs.NoWait
	byRole := func(role string) (serviceState, bool) {
		i := slices.IndexFunc(obs.Services, func(s serviceState) bool { return s.Role == role })
		if i < 0 {
			return serviceState{}, false
		}
		return obs.Services[i], true
	}
	done := map[string]bool{}
	if edge, ok := byRole("edge"); handsOver && ok && edge.Runs && slices.Equal(edge.What, []string{"image"}) {
		// Its image changed alone (a rebuilt nginx base): it runs nothing
		// but a sleeping shell that holds nginx's port, and recreating it
		// would refuse connections: it is kept, and nginx handed over in it.
		p.keepEdge = true
		p.Steps = append(p.Steps, Step{Action: "keep", Target: edge.Name, Why: KeptEdge})
		done[edge.Name] = true
	}
	if handsOver {
		if app, ok := byRole("app"); ok && app.Runs && len(app.What) > 0 {
			p.handApp = fmt.Sprintf("%s's %s", g.App, strings.Join(app.What, " and "))
			to := g.AppService(obs.Gen, 1-slot)
			p.Steps = append(p.Steps, Step{Action: "hand-over", Target: app.Name + " -> " + to,
				Why: p.handApp + " changed: " + to + " starts beside it on the same data, is checked, and nginx is pointed over"})
			slot = 1 - slot
			done[app.Name] = true
		}
		front, ok := byRole("front")
		edge, edgeOK := byRole("edge")
		if ok && front.Runs && len(front.What) > 0 {
			what := fmt.Sprintf("%s's %s", g.Front, strings.Join(front.What, " and "))
			if g.Edge != "" && edgeOK && edge.Runs && (len(edge.What) == 0 || p.keepEdge) {
				p.handFront = what
				to := g.FrontService(1 - frontSlot)
				p.Steps = append(p.Steps, Step{Action: "hand-over", Target: front.Name + " -> " + to,
					Why: what + " changed: " + to + " starts on the same port, and " + front.Name + " finishes the requests it holds"})
				frontSlot = 1 - frontSlot
			} else {
				p.recreateFront = what
				p.Steps = append(p.Steps, Step{Action: "recreate", Target: front.Name + " and " + g.Edge,
					Why: what + " changed, and the " + g.Edge + " holding its port is new or changed too"})
				p.Outage = Outage{Refuses: true, Why: "nginx and the container holding its port are recreated", For: "until the new nginx answers (seconds)"}
				done[g.Edge] = true
			}
			done[front.Name] = true
		}
		if db, ok := byRole("database"); ok && db.Runs && len(db.What) > 0 && g.MaintenanceFile != "" {
			p.closeForDB = db.Name + "'s " + strings.Join(db.What, " and ")
			p.Steps = append(p.Steps,
				Step{Action: "close", Target: "the tracker", Why: "maintenance page while " + db.Name + " is recreated (PostgreSQL never runs twice on the same data)"},
				Step{Action: "recreate", Target: db.Name, Why: strings.Join(db.What, " and ") + " changed"},
				Step{Action: "open", Target: "the tracker", Why: "once " + db.Name + " answers healthy"})
			p.Outage.Closes, p.Outage.Why = true, "PostgreSQL's "+strings.Join(db.What, " and ")+" changed"
			p.Outage.For = "while PostgreSQL stops, starts on the same data and answers healthy (seconds to a minute)"
			done[db.Name] = true
		}
	}
	for _, s := range obs.Services {
		if done[s.Name] {
			continue
		}
		switch {
		case !s.Exists:
			p.Steps = append(p.Steps, Step{Action: "create", Target: s.Name})
		case !s.Runs:
			p.Steps = append(p.Steps, Step{Action: "start", Target: s.Name, Why: "it does not run healthy"})
		case len(s.What) > 0:
			p.Steps = append(p.Steps, Step{Action: "recreate", Target: s.Name, Why: strings.Join(s.What, " and ") + " changed"})
			if obs.Serving && (s.Role == "front" || s.Role == "edge") {
				p.Outage = Outage{Refuses: true, Why: s.Name + " is recreated", For: "until the new nginx answers (seconds)"}
			}
		}
	}
	if g != nil && !obs.NoWait {
		if !obs.Ready {
			if st.FirstStart != nil && obs.Made == state.MadeFirstStart {
				p.Steps = append(p.Steps, Step{Action: "first-start", Target: g.App, Why: st.FirstStart.Says})
			}
			p.Steps = append(p.Steps, Step{Action: "point-front", Target: fmt.Sprintf("generation %d", obs.Gen)})
		}
		switch {
		case obs.HTTPS != "off" && !obs.ServedHTTPS:
			p.Steps = append(p.Steps, Step{Action: "https", Target: "on", Why: "tls.mode " + obs.HTTPS + ": nginx's certificate put in place, nginx reloaded gracefully"})
		case obs.HTTPS != "off":
			p.Steps = append(p.Steps, Step{Action: "https", Target: "kept", Why: "tls.mode " + obs.HTTPS + ": renewed only when due"})
		case obs.ServedHTTPS:
			p.Steps = append(p.Steps, Step{Action: "https", Target: "off", Why: "tls.mode off: nginx's certificate removed, nginx reloaded gracefully"})
		}
	}
	if !slices.ContainsFunc(p.Steps, changing) {
		p.Steps = append([]Step{{Action: "none", Target: "nothing changes"}}, p.Steps...)
	}
	if g != nil {
		p.Serves = Serves{Generation: obs.Gen, App: g.AppService(obs.Gen, slot), Front: g.FrontService(frontSlot)}
	}
	return p
}

// Changes says whether the plan changes anything.
func (p Plan) Changes() bool { return slices.ContainsFunc(p.Steps, changing) }

// changing says whether s changes anything: not "none", nor what is kept as
// it is (HTTPS not yet due, the edge on its image).
func changing(s Step) bool {
	return s.Action != "none" && s.Action != "keep" && !(s.Action == "https" && s.Target == "kept")
}

// WriteText writes the plan as an operator reads it.
func (p Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	where := "this engine"
	if p.Where == OnSwarm {
		where = "the swarm"
	}
	fmt.Fprintf(&b, "stack %s on %s, base %s (%s)\n", p.Stack, where, p.Profile, p.ProfileReason)
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "%3d. %-12s %s", i+1, s.Action, s.Target)
		if s.Why != "" {
			fmt.Fprintf(&b, ": %s", s.Why)
		}
		b.WriteByte('\n')
	}
	switch o := p.Outage; {
	case o.Closes:
		fmt.Fprintf(&b, "outage: the tracker closes (maintenance page, HTTP 503) %s: %s\n", o.For, o.Why)
	case o.Fails:
		fmt.Fprintf(&b, "outage: requests fail %s: %s\n", o.For, o.Why)
	case o.Refuses:
		fmt.Fprintf(&b, "outage: connections are refused %s: %s\n", o.For, o.Why)
	case o.Stops:
		fmt.Fprintf(&b, "outage: the tracker does not answer %s: %s\n", o.For, o.Why)
	default:
		b.WriteString("outage: none\n")
	}
	if p.Serves.Generation != 0 {
		fmt.Fprintf(&b, "serves after: generation %d, %s behind %s\n", p.Serves.Generation, p.Serves.App, p.Serves.Front)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
