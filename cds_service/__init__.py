"""vcf-imaging-cds: a CDS Hooks service for spine imaging after vertebral compression fracture."""
