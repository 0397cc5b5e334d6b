#!/usr/bin/env node
// oclif's standard launcher: commands are discovered in ./dist/commands (see package.json "oclif").
'use strict'

require('@oclif/core').execute({ dir: __dirname })
