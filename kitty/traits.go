package kitty

// splitmix is the SplitMix64 generator. Seeded with the ticket's sequence
// number it gives each ticket its own, well-mixed stream of choices, even
// for neighbouring numbers, with no shared state to lock.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n).
func (s *splitmix) intn(n int) int { return int(s.next() % uint64(n)) }

// between returns a number in [lo, hi).
func (s *splitmix) between(lo, hi float64) float64 {
	return lo + (hi-lo)*float64(s.next()>>11)/(1<<53)
}

// fur is a coat: its base colour and the colours its markings take.
type fur struct {
	name    string
	base    rgb
	stripe  rgb   // tabby stripes
	patches []rgb // patch colours, used in turn
	pattern pattern
	// fixed is set for coats whose name is their pattern (a calico has
	// patches, a brown tabby has stripes), so the pattern is not drawn at
	// random for them.
	fixed bool
}

type pattern int

const (
	plain pattern = iota
	tabby
	patches
	patternCount
)

func (p pattern) String() string { return [...]string{"plain", "tabby", "patches"}[p] }

var furs = []fur{
	{name: "ginger", base: hex(0xf5a65b), stripe: hex(0xdc7b33), patches: []rgb{hex(0xfff4e6)}},
	{name: "grey", base: hex(0xaab1c0), stripe: hex(0x7f889b), patches: []rgb{hex(0xf8f6f4)}},
	{name: "black", base: hex(0x3d3b43), stripe: hex(0x2e2c33), patches: []rgb{hex(0xf7f4f1)}},
	{name: "white", base: hex(0xfbf8f3), stripe: hex(0xe2dad0), patches: []rgb{hex(0xb6bcc8), hex(0xf2b072)}},
	{name: "calico", base: hex(0xfcf7ef), patches: []rgb{hex(0xef9f4c), hex(0x403c42)}, pattern: patches, fixed: true},
	{name: "tortoiseshell", base: hex(0x4a3a34), patches: []rgb{hex(0xc8712e), hex(0xe8a35c), hex(0x8a5434)}, pattern: patches, fixed: true},
	{name: "cream", base: hex(0xf6e2bb), stripe: hex(0xe2bf86), patches: []rgb{hex(0xfffaf0)}},
	{name: "brown tabby", base: hex(0xb98a5e), stripe: hex(0x6e4b33), patches: []rgb{hex(0xf3e6d6)}, pattern: tabby, fixed: true},
}

// eyes names the iris colour of each eye.
type eyes struct {
	name        string
	left, right rgb
}

var eyeColours = []eyes{
	{name: "green", left: hex(0x7cc36a), right: hex(0x7cc36a)},
	{name: "amber", left: hex(0xf2b33d), right: hex(0xf2b33d)},
	{name: "blue", left: hex(0x6ab4ef), right: hex(0x6ab4ef)},
	{name: "odd-eyed", left: hex(0x6ab4ef), right: hex(0xf2b33d)},
}

type expression int

const (
	openEyes  expression = iota // round eyes looking at you
	wideEyes                    // bigger, sparklier eyes
	happyEyes                   // closed, smiling ^ ^ eyes and an open mouth
	wink                        // one eye closed and a tongue out
	expressionCount
)

func (e expression) String() string { return [...]string{"open", "wide", "happy", "wink"}[e] }

type accessory int

const (
	noAccessory accessory = iota
	bowTie
	earBow
	partyHat
	collarBell
	accessoryCount
)

func (a accessory) String() string {
	return [...]string{"none", "bow tie", "ear bow", "party hat", "collar and bell"}[a]
}

var accessoryColours = []rgb{
	hex(0xe8505b), // red
	hex(0xff7eb3), // pink
	hex(0x5b8def), // blue
	hex(0x9b6bdf), // purple
	hex(0x3fbf9f), // teal
	hex(0xf7b731), // yellow
}

var backgrounds = []rgb{
	hex(0xffdde6), // pink
	hex(0xd5f3e3), // mint
	hex(0xe6ddff), // lavender
	hex(0xd7ebff), // sky
	hex(0xffe4cf), // peach
	hex(0xfff3c4), // lemon
}

type decoration int

const (
	noDecoration decoration = iota
	hearts
	stars
	dots
	decorationCount
)

func (d decoration) String() string { return [...]string{"none", "hearts", "stars", "dots"}[d] }

// traits is everything that makes one ticket's kitty its own.
type traits struct {
	fur        fur
	pattern    pattern
	eyes       eyes
	expression expression
	accessory  accessory
	accent     rgb // the accessory's colour
	background rgb
	decoration decoration
	// seed drives the placement of patches and decorations and the small
	// tilts, so they too are fixed per ticket.
	seed uint64
}

// traitsFor draws a ticket's traits from its sequence number.
func traitsFor(seq uint64) traits {
	rng := splitmix(seq)
	t := traits{fur: furs[rng.intn(len(furs))]}
	t.pattern = t.fur.pattern
	if !t.fur.fixed {
		t.pattern = pattern(rng.intn(int(patternCount)))
		if t.fur.name == "black" && t.pattern == tabby {
			t.pattern = plain // stripes do not show on black
		}
	}
	t.eyes = eyeColours[rng.intn(len(eyeColours))]
	t.expression = expression(rng.intn(int(expressionCount)))
	t.accessory = accessory(rng.intn(int(accessoryCount)))
	t.accent = accessoryColours[rng.intn(len(accessoryColours))]
	// A slight shift of the pastel keeps backgrounds from looking stamped.
	bg := backgrounds[rng.intn(len(backgrounds))]
	t.background = rgb{
		clamp(bg.r+rng.between(-6, 6), 0, 255),
		clamp(bg.g+rng.between(-6, 6), 0, 255),
		clamp(bg.b+rng.between(-6, 6), 0, 255),
	}
	t.decoration = decoration(rng.intn(int(decorationCount)))
	t.seed = rng.next()
	return t
}
