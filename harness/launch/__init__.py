"""Launch: cells into fresh processes (runner, process, worker), the fork server and its
shared pages, a failure's record status, the devices a cell asks for."""
