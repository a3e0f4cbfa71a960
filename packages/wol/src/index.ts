// Wake-on-LAN: filled in by the WoL consolidation (issue 9).
export {};
