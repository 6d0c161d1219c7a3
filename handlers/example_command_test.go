package handlers_test

import (
	"fmt"

	"github.com/specloop/specloop/handlers"
)

func ExampleParseCommand() {
	cmd, ok := handlers.ParseCommand("> /loop stop\n\n/loop next please\n")
	fmt.Println(ok, cmd.Name, cmd.Args, cmd.Known())
	// Output: true next [please] true
}
