package spec

// Source is the spec as it was parsed: a planning cycle hands the whole
// spec to its agent.
func (s *Spec) Source() []byte { return s.src }
