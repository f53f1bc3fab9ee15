package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"routewatch/route"
)

// Service limits (from each service's documentation).
const (
	slackMaxBlocks      = 50
	slackMaxHeader      = 150
	slackMaxSectionText = 3000
	slackMaxFallback    = 3000 // our own cap on the notification text

	discordMaxEmbeds     = 10
	discordMaxTitle      = 256
	discordMaxDesc       = 4096
	discordMaxFields     = 25
	discordMaxFieldName  = 256
	discordMaxFieldValue = 1024
	discordMaxFooter     = 2048
	discordMaxTotal      = 6000

	teamsMaxBytes    = 28 * 1024 // Teams message size limit (~28 KB)
	teamsCardVersion = "1.4"     // Workflows render up to 1.5; 1.4 is widely supported

	mattermostMaxBytes = 16000 // characters; Mattermost posts hold 16383
)

// errTooBig says a message cannot be made to fit the service's limits.
var errTooBig = errors.New("alert: message exceeds service limits")

// render turns notices into the HTTP body for a sink type. It tries the
// richest detail first and steps down until the service's limits hold.
func render(t SinkType, ns []notice, apiBase string) ([]byte, error) {
	if len(ns) == 0 {
		return nil, fmt.Errorf("alert: render: %w", ErrBadPayload)
	}
	if t == Generic {
		return renderGeneric(ns)
	}
	var last error
	for i, d := range details {
		final := i == len(details)-1
		views := make([]view, len(ns))
		for j := range ns {
			views[j] = newView(&ns[j], apiBase, d)
		}
		var b []byte
		var err error
		switch t {
		case Slack:
			b, err = renderSlack(views, final)
		case Teams:
			b, err = renderTeams(views, final)
		case Discord:
			b, err = renderDiscord(views, final)
		case Mattermost:
			b, err = renderMattermost(views, final)
		default:
			return nil, fmt.Errorf("alert: render: unknown sink type %q", t)
		}
		if err == nil {
			return b, nil
		}
		last = err
	}
	return nil, fmt.Errorf("alert: render %s (%d notices): %w", t, len(ns), last)
}

func batchTitle(vs []view) string {
	if inc := vs[0].incident; inc != "" && !slices.ContainsFunc(vs, func(v view) bool { return v.incident != inc }) {
		// One incident: its cause and how many groups it covers.
		verb := "shifted"
		if vs[0].change == route.EventResolved {
			verb = "resolved"
		}
		c := vs[0].cause
		return fmt.Sprintf("Incident (%s side, AS%d): %d groups %s", c.Side, c.ASN, len(vs), verb)
	}
	var opened, updated, resolved int
	for _, v := range vs {
		switch v.change {
		case route.EventOpened:
			opened++
		case route.EventUpdated:
			updated++
		case route.EventResolved:
			resolved++
		}
	}
	var parts []string
	if opened > 0 {
		parts = append(parts, fmt.Sprintf("%d new", opened))
	}
	if updated > 0 {
		parts = append(parts, fmt.Sprintf("%d growing", updated))
	}
	if resolved > 0 {
		parts = append(parts, fmt.Sprintf("%d resolved", resolved))
	}
	return fmt.Sprintf("%d routing events: %s", len(vs), strings.Join(parts, ", "))
}

// ---- Slack (incoming webhook, Block Kit) ----

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMessage struct {
	// Text is the notification/fallback text shown where blocks are not.
	Text        string       `json:"text"`
	Blocks      []slackBlock `json:"blocks"`
	UnfurlLinks bool         `json:"unfurl_links"`
	UnfurlMedia bool         `json:"unfurl_media"`
}

// slackEscape escapes the three characters Slack's mrkdwn treats as
// control characters, so names from range files cannot inject mentions.
func slackEscape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func slackBody(v view) string {
	var b strings.Builder
	for _, f := range v.facts {
		fmt.Fprintf(&b, "*%s:* %s\n", f.name, slackEscape(f.value))
	}
	if len(v.trans) > 0 {
		b.WriteString("*Top upstream transitions:*\n")
		for _, t := range v.trans {
			b.WriteString("• " + slackEscape(t) + "\n")
		}
	}
	if len(v.samples) > 0 {
		b.WriteString("*Sample prefixes:* `" + strings.Join(v.samples, "`, `") + "`\n")
	}
	if v.summary != "" {
		b.WriteString("_" + slackEscape(v.summary) + "_\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func slackLink(v view) string {
	if v.link == "" {
		return "event `" + slackEscape(v.eventID) + "`"
	}
	return "<" + v.link + "|event " + slackEscape(v.eventID) + ">"
}

func mrkdwn(s string) *slackText { return &slackText{Type: "mrkdwn", Text: s} }

func renderSlack(vs []view, final bool) ([]byte, error) {
	msg := slackMessage{}
	section := func(s string) slackBlock {
		if final {
			s = truncate(s, slackMaxSectionText)
		}
		return slackBlock{Type: "section", Text: mrkdwn(s)}
	}
	context := func(s string) slackBlock {
		return slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: truncate(s, slackMaxSectionText)}}}
	}
	switch {
	case len(vs) == 1 && vs[0].quiet:
		v := vs[0]
		msg.Text = v.title
		msg.Blocks = []slackBlock{context(slackEscape(v.title) + " · " + fmtTime(v.at) + " · " + slackLink(v))}
	case len(vs) == 1:
		v := vs[0]
		msg.Text = v.title
		msg.Blocks = []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(v.title, slackMaxHeader)}},
			section(slackBody(v)),
			context("routewatch · " + slackLink(v)),
		}
	default:
		title := batchTitle(vs)
		msg.Text = title
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(title, slackMaxHeader)}})
		for i, v := range vs {
			if i > 0 {
				msg.Blocks = append(msg.Blocks, slackBlock{Type: "divider"})
			}
			if v.quiet {
				msg.Blocks = append(msg.Blocks, context(slackEscape(v.title)+" · "+slackLink(v)))
				continue
			}
			msg.Blocks = append(msg.Blocks, section("*"+slackEscape(v.title)+"*\n"+slackBody(v)), context(slackLink(v)))
		}
	}
	msg.Text = truncate(msg.Text, slackMaxFallback)
	if len(msg.Blocks) > slackMaxBlocks {
		return nil, fmt.Errorf("%w: %d blocks", errTooBig, len(msg.Blocks))
	}
	for _, b := range msg.Blocks {
		if b.Type == "header" && runes(b.Text.Text) > slackMaxHeader {
			return nil, fmt.Errorf("%w: header", errTooBig)
		}
		if b.Type == "section" && runes(b.Text.Text) > slackMaxSectionText {
			return nil, fmt.Errorf("%w: section text", errTooBig)
		}
	}
	return json.Marshal(msg)
}

// ---- Microsoft Teams (Workflows webhook, Adaptive Card) ----

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	MSTeams map[string]any `json:"msteams,omitempty"`
	Body    []any          `json:"body"`
	Actions []any          `json:"actions,omitempty"`
}

type teamsTextBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
	// Separator draws a line above the block (between coalesced notices).
	Separator bool `json:"separator,omitempty"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsFactSet struct {
	Type  string      `json:"type"`
	Facts []teamsFact `json:"facts"`
}

func teamsColor(v view) string {
	switch {
	case v.quiet:
		return "Default"
	case v.change == route.EventResolved:
		return "Good"
	case v.change == route.EventUpdated:
		return "Warning"
	}
	return "Attention"
}

func renderTeams(vs []view, final bool) ([]byte, error) {
	card := teamsCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: teamsCardVersion,
		MSTeams: map[string]any{"width": "Full"},
	}
	if len(vs) > 1 {
		card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: batchTitle(vs), Wrap: true, Size: "Large", Weight: "Bolder"})
	}
	for i, v := range vs {
		sep := len(vs) > 1 && i > 0
		if v.quiet {
			text := v.title + " · " + fmtTime(v.at)
			if v.link != "" && len(vs) > 1 {
				text += " · [event " + v.eventID + "](" + v.link + ")"
			}
			card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: text, Wrap: true, Size: "Small", IsSubtle: true, Separator: sep})
			continue
		}
		card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: v.title, Wrap: true, Size: "Medium", Weight: "Bolder", Color: teamsColor(v), Separator: sep})
		fs := teamsFactSet{Type: "FactSet"}
		for _, f := range v.facts {
			fs.Facts = append(fs.Facts, teamsFact{Title: f.name, Value: f.value})
		}
		if len(v.samples) > 0 {
			fs.Facts = append(fs.Facts, teamsFact{Title: "Sample prefixes", Value: strings.Join(v.samples, ", ")})
		}
		card.Body = append(card.Body, fs)
		if len(v.trans) > 0 {
			card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: "**Top upstream transitions**\n\n- " + strings.Join(v.trans, "\n- "), Wrap: true})
		}
		if v.summary != "" {
			card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: v.summary, Wrap: true, IsSubtle: true})
		}
		if v.link != "" && len(vs) > 1 {
			card.Body = append(card.Body, teamsTextBlock{Type: "TextBlock", Text: "[Event " + v.eventID + "](" + v.link + ")", Wrap: true, Size: "Small"})
		}
	}
	if len(vs) == 1 && vs[0].link != "" {
		card.Actions = []any{map[string]string{"type": "Action.OpenUrl", "title": "Open event in routewatch", "url": vs[0].link}}
	}
	b, err := json.Marshal(teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
		}},
	})
	if err != nil {
		return nil, err
	}
	if len(b) > teamsMaxBytes {
		if final && !titlesOnly(vs) {
			// Last resort: one short line per notice.
			return renderTeams(shortTitles(vs), true)
		}
		return nil, fmt.Errorf("%w: %d bytes", errTooBig, len(b))
	}
	return b, nil
}

const shortTitle = 300 // runes, for the last-resort rendering

// shortTitles strips views to their (shortened) titles.
func shortTitles(vs []view) []view {
	out := make([]view, len(vs))
	for i, v := range vs {
		out[i] = view{title: truncate(v.title, shortTitle), quiet: true, change: v.change, link: v.link, eventID: v.eventID, at: v.at}
	}
	return out
}

func titlesOnly(vs []view) bool {
	for _, v := range vs {
		if !v.quiet || runes(v.title) > shortTitle {
			return false
		}
	}
	return true
}

// ---- Discord (webhook, embeds) ----

type discordMessage struct {
	Username        string              `json:"username"`
	Content         string              `json:"content,omitempty"`
	Embeds          []discordEmbed      `json:"embeds"`
	AllowedMentions discordAllowMention `json:"allowed_mentions"`
}

// discordAllowMention with an empty parse list stops names in event data
// from pinging anyone.
type discordAllowMention struct {
	Parse []string `json:"parse"`
}

type discordEmbed struct {
	Title       string         `json:"title,omitempty"`
	URL         string         `json:"url,omitempty"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Timestamp   string         `json:"timestamp,omitempty"`
	Fields      []discordField `json:"fields,omitempty"`
	Footer      *discordFooter `json:"footer,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordFooter struct {
	Text string `json:"text"`
}

func discordColor(v view) int {
	switch {
	case v.quiet:
		return 0x95A5A6
	case v.change == route.EventResolved:
		return 0x2EB67D
	case v.change == route.EventUpdated:
		return 0xF2A541
	}
	return 0xD93F0B
}

// discordChars counts what Discord counts toward its 6000-character cap.
func discordChars(es []discordEmbed) int {
	n := 0
	for _, e := range es {
		n += runes(e.Title) + runes(e.Description)
		for _, f := range e.Fields {
			n += runes(f.Name) + runes(f.Value)
		}
		if e.Footer != nil {
			n += runes(e.Footer.Text)
		}
	}
	return n
}

func renderDiscord(vs []view, final bool) ([]byte, error) {
	if len(vs) > discordMaxEmbeds {
		return nil, fmt.Errorf("%w: %d embeds", errTooBig, len(vs))
	}
	msg := discordMessage{Username: "routewatch", AllowedMentions: discordAllowMention{Parse: []string{}}}
	if len(vs) > 1 {
		msg.Content = truncate(batchTitle(vs), 2000)
	}
	for _, v := range vs {
		e := discordEmbed{
			Title:  truncate(v.title, discordMaxTitle),
			URL:    v.link,
			Color:  discordColor(v),
			Footer: &discordFooter{Text: truncate("routewatch · event "+v.eventID, discordMaxFooter)},
		}
		if !v.at.IsZero() {
			e.Timestamp = v.at.UTC().Format(time.RFC3339)
		}
		if v.quiet {
			msg.Embeds = append(msg.Embeds, e)
			continue
		}
		var desc strings.Builder
		if len(v.trans) > 0 {
			desc.WriteString("**Top upstream transitions**\n")
			for _, t := range v.trans {
				desc.WriteString("• " + t + "\n")
			}
		}
		if v.summary != "" {
			desc.WriteString("\n" + v.summary)
		}
		e.Description = truncate(strings.TrimSpace(desc.String()), discordMaxDesc)
		for _, f := range v.facts {
			inline := f.name != "Vantage points seen"
			e.Fields = append(e.Fields, discordField{Name: truncate(f.name, discordMaxFieldName), Value: truncate(f.value, discordMaxFieldValue), Inline: inline})
		}
		if len(v.samples) > 0 {
			e.Fields = append(e.Fields, discordField{Name: "Sample prefixes", Value: truncate("`"+strings.Join(v.samples, "`, `")+"`", discordMaxFieldValue)})
		}
		if len(e.Fields) > discordMaxFields {
			e.Fields = e.Fields[:discordMaxFields]
		}
		msg.Embeds = append(msg.Embeds, e)
	}
	if n := discordChars(msg.Embeds); n > discordMaxTotal {
		if !final {
			return nil, fmt.Errorf("%w: %d characters", errTooBig, n)
		}
		// Last resort: keep titles and drop the bodies.
		for i := range msg.Embeds {
			msg.Embeds[i].Description, msg.Embeds[i].Fields = "", nil
		}
	}
	return json.Marshal(msg)
}

// ---- Mattermost (incoming webhook, Slack-compatible attachments) ----

type mattermostMessage struct {
	Username    string                 `json:"username"`
	Text        string                 `json:"text,omitempty"`
	Attachments []mattermostAttachment `json:"attachments"`
}

type mattermostAttachment struct {
	Fallback  string            `json:"fallback"`
	Color     string            `json:"color,omitempty"`
	Title     string            `json:"title"`
	TitleLink string            `json:"title_link,omitempty"`
	Text      string            `json:"text,omitempty"`
	Fields    []mattermostField `json:"fields,omitempty"`
	Footer    string            `json:"footer,omitempty"`
}

type mattermostField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func renderMattermost(vs []view, final bool) ([]byte, error) {
	msg := mattermostMessage{Username: "routewatch"}
	if len(vs) > 1 {
		msg.Text = batchTitle(vs)
	}
	for _, v := range vs {
		a := mattermostAttachment{
			Fallback:  v.title,
			Color:     fmt.Sprintf("#%06X", discordColor(v)),
			Title:     v.title,
			TitleLink: v.link,
			Footer:    "routewatch · event " + v.eventID,
		}
		if !v.quiet {
			var text strings.Builder
			if len(v.trans) > 0 {
				text.WriteString("**Top upstream transitions**\n")
				for _, t := range v.trans {
					text.WriteString("- " + t + "\n")
				}
			}
			if len(v.samples) > 0 {
				text.WriteString("**Sample prefixes:** `" + strings.Join(v.samples, "`, `") + "`\n")
			}
			if v.summary != "" {
				text.WriteString("\n" + v.summary)
			}
			a.Text = strings.TrimSpace(text.String())
			for _, f := range v.facts {
				a.Fields = append(a.Fields, mattermostField{Title: f.name, Value: f.value, Short: f.name != "Vantage points seen"})
			}
		}
		msg.Attachments = append(msg.Attachments, a)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if runes(string(b)) > mattermostMaxBytes {
		if final && !titlesOnly(vs) {
			return renderMattermost(shortTitles(vs), true)
		}
		return nil, fmt.Errorf("%w: %d characters", errTooBig, runes(string(b)))
	}
	return b, nil
}

// ---- generic webhook (Standard Webhooks payload) ----

// genericPayload follows the Standard Webhooks payload shape: a type, a
// timestamp and the event resource (DESIGN.md's event JSON contract) as
// data.
type genericPayload struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      route.Event `json:"data"`
}

func renderGeneric(ns []notice) ([]byte, error) {
	if len(ns) != 1 {
		return nil, fmt.Errorf("alert: render generic: %w: want one notice, have %d", ErrBadPayload, len(ns))
	}
	n := ns[0]
	return json.Marshal(genericPayload{Type: "event." + string(n.Change), Timestamp: n.At.UTC(), Data: n.Event})
}
