require('shared');
