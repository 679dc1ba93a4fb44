package redisline

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// The protocol between Go and the scripts. Every script answers a flat list
// of field/value pairs (lua/lib.lua's reply); decode fills a struct whose
// fields carry `lua:"name"` tags from it, by name. A field the struct does
// not declare, a value of the wrong kind, or a list of odd length is a
// protocol error: a defect in this package or its scripts, never a store
// outage, so it is reported as queue.CodeInternal, not as unavailable.

// errProtocol marks an answer that breaks the protocol.
var errProtocol = errors.New("script answer breaks the protocol")

// protocolErr wraps errProtocol with what was wrong.
func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

// lineReply is what every operation that touches the line answers (see
// reply in lua/lib.lua), before the fields of its own.
type lineReply struct {
	Code    string `lua:"code,required"`
	Version int64  `lua:"version,required"`
	Now     int64  `lua:"now,required"` // the line's clock, Unix ms
	Next    int64  `lua:"next"`         // the earliest deadline, Unix ms; 0 = none
	Called  int64  `lua:"called"`       // tickets called now
	Share   int64  `lua:"share"`        // one ticket's share of the wait, ms
	ticketReply
	Ban   int64 `lua:"ban"`   // banned/forbidden: ms of ban left; unban: ms that were left
	Limit int64 `lua:"limit"` // too_many, full: the limit reached
}

// line returns the reply's common part; every reply type that embeds a
// lineReply has the method, so Line.call notes every answer's version and
// clock.
func (r *lineReply) line() *lineReply { return r }

// ticketReply is one ticket (ticket_fields in lua/lib.lua).
type ticketReply struct {
	Seq      int64  `lua:"seq"`
	State    string `lua:"state"`
	Position int64  `lua:"position"` // 1-based, while waiting or called
	Deadline int64  `lua:"deadline"` // while called, Unix ms
	Until    int64  `lua:"until"`    // while serving, Unix ms
}

// statusesReply is statuses.lua's answer.
type statusesReply struct {
	lineReply
	Tickets []statusItem `lua:"tickets"`
}

// statusItem is one ticket of statuses.lua.
type statusItem struct {
	Code string `lua:"code,required"`
	Ban  int64  `lua:"ban"`
	ticketReply
}

// snapshotReply is snapshot.lua's answer.
type snapshotReply struct {
	lineReply
	Length   int64   `lua:"length"`
	Counters int64   `lua:"counters"`
	Paused   bool    `lua:"paused"`
	Serving  []int64 `lua:"serving"` // seq, until, …
	Calls    []int64 `lua:"calls"`   // seq, deadline, …
	Waiting  []int64 `lua:"waiting"` // seq, …
}

// statsReply is stats.lua's answer.
type statsReply struct {
	lineReply
	Issued   int64 `lua:"issued"`
	Served   int64 `lua:"served"`
	Expired  int64 `lua:"expired"`
	Left     int64 `lua:"left"`
	Bans     int64 `lua:"bans"`
	WaitSum  int64 `lua:"wait_sum"`
	WaitN    int64 `lua:"wait_n"`
	HeldSum  int64 `lua:"held_sum"`
	HeldN    int64 `lua:"held_n"`
	Length   int64 `lua:"length"`
	Serving  int64 `lua:"serving"`
	Counters int64 `lua:"counters"`
	Paused   bool  `lua:"paused"`
}

// adminReply is what every admin action answers (lua/admin_lib.lua).
type adminReply struct {
	lineReply
	Counters  int64   `lua:"counters"`
	Paused    bool    `lua:"paused"`
	CalledNow []int64 `lua:"called_now"`
}

// bansReply is admin_bans.lua's answer.
type bansReply struct {
	lineReply
	Total   int64    `lua:"total"`
	Clients []string `lua:"clients"`
	Ends    []int64  `lua:"ends"`
}

// secretReply is secret.lua's answer.
type secretReply struct {
	Code   string `lua:"code,required"`
	Secret string `lua:"secret,required"`
}

// decode fills the struct dst points to from a script's answer v.
func decode(v any, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("redisline: decode wants a pointer to a struct") // a defect here
	}
	return decodeStruct(v, rv.Elem())
}

func decodeStruct(v any, dst reflect.Value) error {
	pairs, ok := v.([]any)
	if !ok {
		return protocolErr("want a list of field/value pairs, got %T", v)
	}
	if len(pairs)%2 != 0 {
		return protocolErr("odd list of %d field/value items", len(pairs))
	}
	fields := fieldsOf(dst.Type())
	var seen uint64 // bit i: required field i was seen
	for i := 0; i < len(pairs); i += 2 {
		name, ok := pairs[i].(string)
		if !ok {
			return protocolErr("field name %v is a %T", pairs[i], pairs[i])
		}
		f, ok := fields.byName[name]
		if !ok {
			return protocolErr("unknown field %q for %s", name, dst.Type())
		}
		if f.required {
			seen |= 1 << f.bit
		}
		if err := decodeValue(pairs[i+1], dst.FieldByIndex(f.index)); err != nil {
			return protocolErr("field %q: %v", name, err)
		}
	}
	if seen != 1<<fields.required-1 {
		return protocolErr("%s lacks a required field (%v)", dst.Type(), fields.requiredNames)
	}
	return nil
}

func decodeValue(v any, dst reflect.Value) error {
	switch dst.Kind() {
	case reflect.Int64:
		n, err := integer(v)
		dst.SetInt(n)
		return err
	case reflect.Bool:
		n, err := integer(v)
		if err == nil && n != 0 && n != 1 {
			err = fmt.Errorf("flag %d is neither 0 nor 1", n)
		}
		dst.SetBool(n == 1)
		return err
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %T", v)
		}
		dst.SetString(s)
		return nil
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want a list, got %T", v)
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, item := range list {
			var err error
			if out.Index(i).Kind() == reflect.Struct {
				err = decodeStruct(item, out.Index(i))
			} else {
				err = decodeValue(item, out.Index(i))
			}
			if err != nil {
				return fmt.Errorf("item %d: %v", i, err)
			}
		}
		dst.Set(out)
		return nil
	}
	panic("redisline: decode has no rule for " + dst.Type().String()) // a defect here
}

// integer reads a Lua number (an integer reply) or a string of digits (a
// ZRANGE member, a kept admin answer).
func integer(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", n)
		}
		return i, nil
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

// replyFields is what decode knows of one reply type: its fields by Lua
// name, and how many are required (tagged `lua:"name,required"`).
type replyFields struct {
	byName        map[string]replyField
	required      int
	requiredNames []string
}

type replyField struct {
	index    []int
	required bool
	bit      int // required: its bit in decode's mask of fields seen
}

// fieldIndex caches each reply type's replyFields.
var fieldIndex sync.Map // reflect.Type → *replyFields

func fieldsOf(t reflect.Type) *replyFields {
	if m, ok := fieldIndex.Load(t); ok {
		return m.(*replyFields)
	}
	m := &replyFields{byName: map[string]replyField{}}
	for _, f := range reflect.VisibleFields(t) {
		tag, ok := f.Tag.Lookup("lua")
		if !ok {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		rf := replyField{index: f.Index, required: opt == "required", bit: m.required}
		if rf.required {
			m.required++
			m.requiredNames = append(m.requiredNames, name)
		}
		m.byName[name] = rf
	}
	fieldIndex.Store(t, m)
	return m
}

// loadReply is load.lua's answer.
type loadReply struct {
	lineReply
	Length   int64   `lua:"length"`
	Counters int64   `lua:"counters"`
	Paused   bool    `lua:"paused"`
	Head     int64   `lua:"head"`
	Top      int64   `lua:"top"`
	Calls    []int64 `lua:"calls"`   // seq, deadline, …
	Serving  []int64 `lua:"serving"` // seq, until, …
	Gone     []int64 `lua:"gone"`    // seq, …
}
