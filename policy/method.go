package policy

import "strings"

// OtherMethods is the MethodClass of every method the policy does not know.
const OtherMethods = "*"

// MethodClass names the class of methods the policy decides alike (see
// methodBit): a known method in any case is that method ("delete", and
// what folds to it, is decided as DELETE), and every other token is
// OtherMethods (only routes without methods admit them). Whoever
// remembers decisions by method can key them by class.
func MethodClass(m string) string {
	if _, ok := methodBits[m]; ok {
		return m
	}
	for k := range methodBits {
		if strings.EqualFold(k, m) {
			return k
		}
	}
	return OtherMethods
}
