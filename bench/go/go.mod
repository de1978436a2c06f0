module cspbench

go 1.19
