package main

import "example.com/app/pkg"

func main() { println(pkg.Add(1, 2)) }
